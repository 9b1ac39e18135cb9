package config

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	docPath        = "../../docs/config.md"
	catalogueBegin = "<!-- BEGIN ERROR CATALOGUE: generated from pkg/config/testdata/bad; do not edit -->"
	catalogueEnd   = "<!-- END ERROR CATALOGUE -->"
)

// codeBlock is a fenced block of a Markdown file.
type codeBlock struct {
	line int    // of the opening fence, 1-based
	info string // what follows the opening ```
	text string
}

// codeBlocks returns the fenced blocks of a Markdown text, leaving out those
// of the generated catalogue.
func codeBlocks(doc string) []codeBlock {
	var blocks []codeBlock
	var cur *codeBlock
	var indent string
	inCatalogue := false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == catalogueBegin:
			inCatalogue = true
		case trimmed == catalogueEnd:
			inCatalogue = false
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &codeBlock{line: n, info: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
			indent = line[:len(line)-len(strings.TrimLeft(line, " "))]
		case cur != nil && trimmed == "```":
			if !inCatalogue {
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			cur.text += strings.TrimPrefix(line, indent) + "\n"
		}
	}
	return blocks
}

// TestDocSnippets parses every YAML snippet of docs/config.md. Each is
// marked "```yaml valid" or "```yaml invalid"; an invalid one followed by a
// "```text" block must produce exactly that output (as file mptcpd.yaml);
// one marked "```yaml valid canonical" must be what Format writes.
func TestDocSnippets(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(string(doc))
	var valid, invalid int
	for i, b := range blocks {
		if !strings.HasPrefix(b.info, "yaml") {
			continue
		}
		cfg, err := Parse("mptcpd.yaml", []byte(b.text))
		switch b.info {
		case "yaml valid", "yaml valid canonical":
			valid++
			if err != nil {
				t.Errorf("config.md:%d: snippet marked valid does not parse:\n%v", b.line, err)
				continue
			}
			if b.info == "yaml valid canonical" {
				out, err := Format(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(b.text, string(out)); diff != "" {
					t.Errorf("config.md:%d: snippet marked canonical is not what Format writes (-doc +Format):\n%s", b.line, diff)
				}
			}
		case "yaml invalid":
			invalid++
			if err == nil {
				t.Errorf("config.md:%d: snippet marked invalid parses: %+v", b.line, cfg)
				continue
			}
			if i+1 < len(blocks) && blocks[i+1].info == "text" {
				if diff := cmp.Diff(blocks[i+1].text, err.Error()+"\n"); diff != "" {
					t.Errorf("config.md:%d: errors shown for the snippet differ (-doc +actual):\n%s", blocks[i+1].line, diff)
				}
			}
		default:
			t.Errorf("config.md:%d: YAML snippet marked %q; mark it \"yaml valid\" or \"yaml invalid\" so that it is checked", b.line, b.info)
		}
	}
	if valid == 0 || invalid == 0 {
		t.Errorf("found %d valid and %d invalid snippets; the checks are not finding them", valid, invalid)
	}
}

// errorCatalogue renders the bad corpus as the Markdown list that ends
// docs/config.md: what each file gets wrong (its first comment line), and
// its exact output.
func errorCatalogue(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		what, ok := strings.CutPrefix(first, "# ")
		if !ok {
			t.Fatalf("%s: the first line must be a comment saying what is wrong", path)
		}
		name := filepath.Base(path)
		_, perr := Parse(name, data)
		if perr == nil {
			t.Fatalf("%s parses", path)
		}
		fmt.Fprintf(&b, "- %s ([%s](../pkg/config/testdata/bad/%s)):\n", what, name, name)
		b.WriteString("  ```text\n")
		for _, line := range strings.Split(perr.Error(), "\n") {
			b.WriteString("  " + line + "\n")
		}
		b.WriteString("  ```\n")
	}
	return b.String()
}

// TestDocErrorCatalogue keeps the doc's list of messages equal to what the
// bad corpus produces, so that the reference cannot drift from the code.
func TestDocErrorCatalogue(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok := strings.Cut(string(doc), catalogueBegin+"\n")
	if !ok {
		t.Fatalf("%s lacks %q", docPath, catalogueBegin)
	}
	current, after, ok := strings.Cut(rest, catalogueEnd)
	if !ok {
		t.Fatalf("%s lacks %q", docPath, catalogueEnd)
	}
	want := errorCatalogue(t)
	if *update {
		out := before + catalogueBegin + "\n" + want + catalogueEnd + after
		if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, current); diff != "" {
		t.Errorf("the error catalogue of %s is stale; run go test ./pkg/config -update (-want +doc):\n%s", docPath, diff)
	}
}
