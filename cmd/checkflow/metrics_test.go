package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// `checkflow worker --metrics-addr` serves Prometheus text that parses, with the Go runtime's and
// the Temporal SDK's own series (its pollers' requests) beside checkflow's.
func TestWorkerServesMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := freeAddr(t)
	w := startExternalWorker(ctx, t, "--metrics-addr", addr)
	defer w.stop()
	var names []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		fams := scrape(ctx, t, "http://"+addr+"/metrics")
		names = names[:0]
		sdk := false
		for name := range fams {
			names = append(names, name)
			sdk = sdk || strings.HasPrefix(name, "temporal_")
		}
		if sdk && fams["go_goroutines"] != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no temporal_ or go_ series within 60 s; families: %v", names)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond): // polling an HTTP endpoint: no event to await
		}
	}
}

// scrape GETs url and parses it with Prometheus' text parser (a failure to parse fails the test).
func scrape(ctx context.Context, t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}
