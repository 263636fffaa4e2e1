package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	mdLinkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeadingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	// slugDropRE is what GitHub drops from a heading to make its anchor.
	slugDropRE = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
)

// githubSlug is the anchor GitHub gives a heading.
func githubSlug(heading string) string {
	s := strings.ToLower(strings.TrimSpace(heading))
	s = slugDropRE.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, " ", "-")
}

// markdownFile is a file's links and the anchors of its headings, outside
// code blocks.
func markdownFile(t *testing.T, path string) (links []string, anchors map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors = map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		if m := mdHeadingRE.FindStringSubmatch(line); m != nil {
			slug := githubSlug(strings.ReplaceAll(m[1], "`", ""))
			if n := seen[slug]; n > 0 {
				anchors[slug+"-"+strconv.Itoa(n)] = true
			} else {
				anchors[slug] = true
			}
			seen[slug]++
		}
		for _, m := range mdLinkRE.FindAllStringSubmatch(line, -1) {
			links = append(links, m[1])
		}
	}
	return links, anchors
}

// TestDocLinksResolve: every relative link and anchor in README.md and
// docs/ points at a file that exists and, with #anchor, at a heading in it
// (README.md once linked #sizing-maxmemory, which is no heading).
func TestDocLinksResolve(t *testing.T) {
	t.Parallel()
	files := []string{"../../README.md"}
	for _, pat := range []string{"../../docs/*.md", "../../docs/*/*.md"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	anchorsOf := map[string]map[string]bool{}
	load := func(path string) map[string]bool {
		if a, ok := anchorsOf[path]; ok {
			return a
		}
		_, a := markdownFile(t, path)
		anchorsOf[path] = a
		return a
	}
	checked := 0
	for _, f := range files {
		links, _ := markdownFile(t, f)
		for _, l := range links {
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			checked++
			target, anchor, _ := strings.Cut(l, "#")
			path := f
			if target != "" {
				path = filepath.Join(filepath.Dir(f), target)
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s links %q: %v", f, l, err)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			if !load(path)[anchor] {
				t.Errorf("%s links %q: %s has no heading with anchor #%s", f, l, path, anchor)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d relative links checked: the scan is broken", checked)
	}
}
