package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func readCompose(t *testing.T) (compose, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	var loose map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	if err := yaml.Unmarshal(raw, &loose); err != nil {
		t.Fatal(err)
	}
	return c, loose
}

// TestComposeContainers checks what a container deployment needs without a
// Docker engine (issue 25): every long-running wdtcancel service has a
// healthcheck that runs the binary's own healthcheck command with real
// flags; the sandbox starts only with its profile and never receives the
// worker's WDT credentials; enqueue can read --file from ./data; the image
// is built with the version and commit.
func TestComposeContainers(t *testing.T) {
	c, loose := readCompose(t)
	for _, name := range []string{"worker", "api", "sandbox"} {
		svc := c.Services[name]
		root := newRoot() // flags parsed fresh for each service
		if svc.Healthcheck == nil || len(svc.Healthcheck.Test) < 3 || svc.Healthcheck.Test[0] != "CMD" || svc.Healthcheck.Test[1] != "/usr/local/bin/wdtcancel" {
			t.Errorf("%s: healthcheck %+v, want [CMD /usr/local/bin/wdtcancel healthcheck ...]", name, svc.Healthcheck)
			continue
		}
		args := svc.Healthcheck.Test[2:]
		sub, rest, err := root.Find(args)
		if err != nil || sub.Name() != "healthcheck" {
			t.Errorf("%s: healthcheck runs %v, not wdtcancel healthcheck", name, args)
			continue
		}
		if err := sub.ParseFlags(rest); err != nil {
			t.Errorf("%s: healthcheck flags %v: %v", name, rest, err)
		}
		url, _ := sub.Flags().GetString("url")
		listen, _ := sub.Flags().GetString("listen")
		port := portOf(svc.Command)
		if !strings.Contains(url, ":"+port+"/") && !strings.HasSuffix(listen, ":"+port) {
			t.Errorf("%s listens on port %s, its healthcheck asks --url %q --listen %q", name, port, url, listen)
		}
	}

	sandbox := c.Services["sandbox"]
	if !slices.Contains(sandbox.Profiles, "sandbox") {
		t.Errorf("sandbox profiles %v: want it behind the sandbox profile, so `up -d` does not start it", sandbox.Profiles)
	}
	rawSandbox, _ := yaml.Marshal(loose["services"].(map[string]any)["sandbox"])
	if regexp.MustCompile(`\$\{WDT_`).Match(rawSandbox) {
		t.Errorf("the sandbox reads the worker's WDT_* variables (the real appsecret from .env):\n%s", rawSandbox)
	}
	for _, v := range []string{"WDTCANCEL_SANDBOX_SID", "WDTCANCEL_SANDBOX_APPKEY", "WDTCANCEL_SANDBOX_APPSECRET"} {
		if !strings.Contains(sandbox.Environment[v], "${SANDBOX_") {
			t.Errorf("sandbox %s = %q: want its own ${SANDBOX_...} variable", v, sandbox.Environment[v])
		}
	}
	for _, name := range []string{"worker", "redis"} {
		if len(c.Services[name].Profiles) != 0 {
			t.Errorf("%s is behind profiles %v: `docker compose up -d` must start it", name, c.Services[name].Profiles)
		}
	}

	enq := c.Services["enqueue"]
	if !slices.Contains(enq.Volumes, "./data:/data:ro") || enq.WorkingDir != "/data" {
		t.Errorf("enqueue volumes %v, working_dir %q: want ./data mounted read-only at /data as the working directory, so --file sees host files", enq.Volumes, enq.WorkingDir)
	}

	for name, svc := range loose["services"].(map[string]any) {
		if name == "redis" {
			continue
		}
		b, _ := yaml.Marshal(svc.(map[string]any)["build"])
		if !strings.Contains(string(b), "COMMIT:") || !strings.Contains(string(b), "VERSION:") {
			t.Errorf("%s: build %s passes no VERSION and COMMIT: its image says commit unknown", name, b)
		}
	}
}

// portOf is the port of a command's --listen host:port.
func portOf(cmd []string) string {
	for i, a := range cmd {
		if a == "--listen" && i+1 < len(cmd) {
			_, port, _ := strings.Cut(cmd[i+1], ":")
			return port
		}
	}
	return ""
}

// TestDockerfileStampsVersionAndChecksHealth: the image says its commit and
// has a HEALTHCHECK that runs the binary (distroless has no shell or curl).
func TestDockerfileStampsVersionAndChecksHealth(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{"ARG VERSION", "ARG COMMIT", "-X main.linkVersion=${VERSION}", "-X main.linkCommit=${COMMIT}",
		`CMD ["/usr/local/bin/wdtcancel", "healthcheck"]`} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^HEALTHCHECK `).MatchString(s) {
		t.Error("Dockerfile has no HEALTHCHECK")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "-X main.linkCommit=$(COMMIT)") || !strings.Contains(string(mk), `-ldflags "$(LDFLAGS)"`) {
		t.Error("the Makefile's build does not pass the commit with -ldflags -X main.linkCommit")
	}
}
