package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/wdtcancel/wdtcancel/internal/config"
)

// compose is the part of docker-compose.yml this test reads.
type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Healthcheck *struct {
			Test    []string `yaml:"test"`
			Disable bool     `yaml:"disable"`
		} `yaml:"healthcheck"`
		Profiles   []string `yaml:"profiles"`
		Volumes    []string `yaml:"volumes"`
		WorkingDir string   `yaml:"working_dir"`
	} `yaml:"services"`
}

// TestComposeFileNamesOnlyRealFlagsAndVariables checks docker-compose.yml
// without a Docker engine: it parses, Redis persists with AOF and has a
// healthcheck, the wdtcancel services are built from the Dockerfile, ports
// are published on loopback only, and every flag and variable it passes is
// one the subcommand really reads.
func TestComposeFileNamesOnlyRealFlagsAndVariables(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	redis, ok := c.Services["redis"]
	if !ok || !strings.HasPrefix(redis.Image, "redis:7") || redis.Healthcheck == nil || !strings.Contains(strings.Join(redis.Command, " "), "--appendonly yes") {
		t.Fatalf("redis service: %+v", redis)
	}
	root := newRoot()
	for name, svc := range c.Services {
		if name == "redis" {
			continue
		}
		if svc.Build == nil {
			t.Errorf("%s: not built from the Dockerfile", name)
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q is not on loopback", name, p)
			}
		}
		args := svc.Command
		if len(svc.Entrypoint) > 1 {
			args = append(svc.Entrypoint[1:], args...)
		}
		sub, _, err := root.Find(args)
		if err != nil || sub == root {
			t.Errorf("%s: %v is not a wdtcancel subcommand", name, args)
			continue
		}
		for _, a := range args {
			if f, ok := strings.CutPrefix(a, "--"); ok {
				f, _, _ = strings.Cut(f, "=")
				if lookupFlag(sub, f) == nil {
					t.Errorf("%s: %s has no flag --%s", name, sub.Name(), f)
				}
			}
		}
		envs := readEnv(sub)
		for v := range svc.Environment {
			if !envs[v] {
				t.Errorf("%s: %s does not read %s", name, sub.Name(), v)
			}
		}
	}
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

// readEnv lists the variables a subcommand reads: at most one per flag.
func readEnv(cmd *cobra.Command) map[string]bool {
	m := map[string]bool{}
	top := topCommand(cmd).Name()
	add := func(f *pflag.Flag) {
		if n := config.EnvNameFor(top, f.Name); n != "" {
			m[n] = true
		}
	}
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	return m
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if strings.Count(s, "\nFROM ") < 1 || !strings.Contains(s, "CGO_ENABLED=0") || !strings.Contains(s, "USER nonroot") || !strings.Contains(s, "./cmd/wdtcancel") {
		t.Fatalf("Dockerfile is not a multi-stage static non-root build")
	}
}
