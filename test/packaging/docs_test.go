package packaging

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/mptcpd/mptcpd/pkg/config"
)

// yamlBlock is a fenced ```yaml block of a Markdown page.
var yamlBlock = regexp.MustCompile("(?ms)^```yaml\\n(.*?)^```")

// TestDocExamples parses every YAML example of the install and migration
// pages, and the shipped file, with the daemon's own parser: a page must not
// teach a file that mptcpd would reject.
func TestDocExamples(t *testing.T) {
	root := repoRoot(t)
	for _, page := range []string{"docs/install.md", "docs/migration.md"} {
		b, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		blocks := yamlBlock.FindAllSubmatchIndex(b, -1)
		if len(blocks) == 0 {
			t.Errorf("%s has no yaml examples", page)
		}
		for _, m := range blocks {
			line := 1 + bytes.Count(b[:m[2]], []byte("\n"))
			name := fmt.Sprintf("%s:%d", page, line)
			t.Run(name, func(t *testing.T) {
				if _, err := config.Parse(name, b[m[2]:m[3]]); err != nil {
					t.Errorf("example at %s does not parse:\n%v", name, err)
				}
			})
		}
	}
	shipped := filepath.Join(root, "packaging/etc/mptcpd.yaml")
	b, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(shipped, b); err != nil {
		t.Errorf("the shipped file does not parse:\n%v", err)
	}
}
