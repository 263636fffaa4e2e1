package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	mdLinkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeadingRE = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	// mdTOCEntryRE is one entry of a table of contents: a list item that is
	// only a link to an anchor of the same page.
	mdTOCEntryRE = regexp.MustCompile(`^\s*[*-] \[.+\]\(#([^)\s]+)\)\s*$`)
	// mdInlineLinkRE is a link inside a heading; GitHub keeps its text.
	mdInlineLinkRE = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	// slugDropRE is what GitHub drops from a heading to make its anchor.
	slugDropRE = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
)

// tocMinLines: a page longer than this needs a table of contents.
const tocMinLines = 150

// githubSlug is the anchor GitHub gives a heading: lower case, inline code
// and link markup reduced to their text, punctuation other than - and _
// dropped, spaces made hyphens.
func githubSlug(heading string) string {
	s := mdInlineLinkRE.ReplaceAllString(heading, "$1")
	s = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(s, "`", "")))
	s = slugDropRE.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, " ", "-")
}

// mdHeading is one heading of a page: its level (1 for #) and anchor.
type mdHeading struct {
	level  int
	text   string
	anchor string
}

// mdPage is what the link and contents checks read from a markdown file,
// outside code blocks.
type mdPage struct {
	lines    int
	links    []string
	headings []mdHeading
	anchors  map[string]bool
	// toc is the anchors listed as a table of contents before the page's
	// first ## heading, in order.
	toc []string
}

func readMarkdown(t *testing.T, path string) mdPage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	p := mdPage{lines: len(lines), anchors: map[string]bool{}}
	seen := map[string]int{}
	fence, beforeSections := false, true
	for _, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		if m := mdHeadingRE.FindStringSubmatch(line); m != nil {
			slug := githubSlug(m[2])
			anchor := slug
			if n := seen[slug]; n > 0 {
				anchor = slug + "-" + strconv.Itoa(n)
			}
			seen[slug]++
			p.anchors[anchor] = true
			p.headings = append(p.headings, mdHeading{level: len(m[1]), text: m[2], anchor: anchor})
			if len(m[1]) >= 2 {
				beforeSections = false
			}
			continue
		}
		if m := mdTOCEntryRE.FindStringSubmatch(line); m != nil && beforeSections {
			p.toc = append(p.toc, m[1])
		}
		for _, m := range mdLinkRE.FindAllStringSubmatch(line, -1) {
			p.links = append(p.links, m[1])
		}
	}
	return p
}

// repoMarkdown is every .md file of the repository (README, docs/, the
// client examples...), outside hidden directories.
func repoMarkdown(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "../.." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"../../README.md", "../../docs/configuration.md", "../../enqueue/clients/README.md"} {
		if !contains(files, must) {
			t.Fatalf("the walk found %v, not %s: it is broken", files, must)
		}
	}
	return files
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestDocLinksResolve: every relative link and anchor in every markdown
// file of the repository points at a file that exists and, with #anchor, at
// a heading in it by GitHub's anchor rules (README.md once linked
// #sizing-maxmemory, which was no heading).
func TestDocLinksResolve(t *testing.T) {
	t.Parallel()
	pages := map[string]mdPage{}
	load := func(path string) mdPage {
		if p, ok := pages[path]; ok {
			return p
		}
		p := readMarkdown(t, path)
		pages[path] = p
		return p
	}
	checked, anchored := 0, 0
	for _, f := range repoMarkdown(t) {
		for _, l := range load(f).links {
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
			anchored++
			if !load(path).anchors[anchor] {
				t.Errorf("%s links %q: %s has no heading with anchor #%s", f, l, path, anchor)
			}
		}
	}
	if checked < 100 || anchored < 50 {
		t.Fatalf("only %d relative links (%d with an anchor) checked: the scan is broken", checked, anchored)
	}
}

// TestDocsHaveContents: a page longer than tocMinLines lines with several
// sections opens with a table of contents (before its first ## heading, a
// list of links to its own anchors), and any page that has one lists
// exactly its ## and ### headings, in order, so a heading added, renamed
// or removed shows up there too.
func TestDocsHaveContents(t *testing.T) {
	t.Parallel()
	withTOC := 0
	for _, f := range repoMarkdown(t) {
		p := readMarkdown(t, f)
		var want []string
		for _, h := range p.headings {
			if h.level == 2 || h.level == 3 {
				want = append(want, h.anchor)
			}
		}
		if len(p.toc) == 0 {
			if p.lines > tocMinLines && len(want) >= 3 {
				t.Errorf("%s has %d lines and %d sections but no table of contents: list its ## and ### headings as links (`* [Heading](#anchor)`, ### indented) before the first ## heading", f, p.lines, len(want))
			}
			continue
		}
		withTOC++
		if strings.Join(p.toc, " ") != strings.Join(want, " ") {
			t.Errorf("%s: the table of contents lists\n  %v\nthe page's ## and ### headings are\n  %v\nmake the list match the headings, in order", f, p.toc, want)
		}
	}
	if withTOC < 8 {
		t.Fatalf("only %d pages with a table of contents found: the scan is broken", withTOC)
	}
}
