package heartbeat

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"time"
)

// zoneinfoZip is the IANA time zone database as the Go distribution ships it
// ($GOROOT/lib/time/zoneinfo.zip). Zones are read from this copy only, never from the host: a
// cron deadline the entity computes in its workflow must be the same on every worker and in
// every replay, whatever tz database a host has (time.LoadLocation prefers the host's).
//
//go:embed zoneinfo.zip
var zoneinfoZip []byte

// loadZone returns the named IANA zone from the embedded database ("UTC" is UTC).
func loadZone(name string) (*time.Location, error) {
	if name == "UTC" {
		return time.UTC, nil
	}
	zr, err := zip.NewReader(bytes.NewReader(zoneinfoZip), int64(len(zoneinfoZip)))
	if err != nil {
		return nil, fmt.Errorf("time zone database: %w", err)
	}
	for _, f := range zr.File {
		if f.Name != name || f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("time zone %s: %w", name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("time zone %s: %w", name, err)
		}
		return time.LoadLocationFromTZData(name, data)
	}
	return nil, fmt.Errorf("unknown time zone %q", name)
}
