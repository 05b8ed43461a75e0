package heartbeat

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"sync"
	"time"
)

// zoneinfoZip is the IANA time zone database as the Go distribution ships it
// ($GOROOT/lib/time/zoneinfo.zip). Zones are read from this copy only, never from the host: a
// cron deadline the entity computes in its workflow must be the same on every worker and in
// every replay, whatever tz database a host has (time.LoadLocation prefers the host's).
//
//go:embed zoneinfo.zip
var zoneinfoZip []byte

// zoneFiles indexes the embedded database's files by zone name, once (it is read-only after).
var zoneFiles = sync.OnceValues(func() (map[string]*zip.File, error) {
	zr, err := zip.NewReader(bytes.NewReader(zoneinfoZip), int64(len(zoneinfoZip)))
	if err != nil {
		return nil, fmt.Errorf("time zone database: %w", err)
	}
	files := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			files[f.Name] = f
		}
	}
	return files, nil
})

// loadZone returns the named IANA zone from the embedded database ("UTC" is UTC).
func loadZone(name string) (*time.Location, error) {
	if name == "UTC" {
		return time.UTC, nil
	}
	files, err := zoneFiles()
	if err != nil {
		return nil, err
	}
	f, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("time zone %s: %w", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("time zone %s: %w", name, err)
	}
	return time.LoadLocationFromTZData(name, data)
}
