package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/checkflow/checkflow/internal/gatusimport"
)

// Import is `checkflow import gatus <config.yaml> [-o DIR]`: converts a Gatus configuration
// into manifests (stdout or DIR/gatus.yaml) and lists on stderr the environment variables the
// manifests' secretRefs name and what it could not convert.
func Import(_ context.Context, args []string, env Env) error {
	fs := newFlagSet("import", env, "import gatus <config.yaml> [-o DIR]")
	var dir string
	fs.StringVar(&dir, "o", "", "write the manifests to DIR/gatus.yaml (default: stdout)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "gatus" {
		return errors.New("usage: checkflow import gatus <config.yaml> [-o DIR]")
	}
	data, err := os.ReadFile(pos[1])
	if err != nil {
		return fmt.Errorf("read the Gatus configuration: %w", err)
	}
	res, err := gatusimport.Convert(data)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[1], err)
	}
	if dir == "" {
		if _, err := env.Stdout.Write(res.Manifests); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		p := filepath.Join(dir, "gatus.yaml")
		if err := os.WriteFile(p, res.Manifests, 0o644); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		fmt.Fprintf(env.Stderr, "wrote %s\n", p)
	}
	fmt.Fprintf(env.Stderr, "converted %d endpoints into %d checks and %d systems, %d alerting providers into notification channels\n",
		res.Endpoints, res.Checks, res.Systems, res.Channels)
	for _, s := range res.Secrets {
		fmt.Fprintf(env.Stderr, "secret: apply reads %s from its environment (the value of %s)\n", s.Name, s.Source)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(env.Stderr, "not converted: %s\n", s)
	}
	return nil
}
