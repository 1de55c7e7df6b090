package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSniff tells CSV from YAML and JSON by content, and by the name's
// extension only when the content does not tell.
func TestSniff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data, file string
		want             fileFormat
	}{
		{"csv header", "name,family,arch\n", "c.yaml", formatCSV},
		{"csv header with BOM and CRLF", "\ufeffname,family\r\n", "", formatCSV},
		{"yaml key", "instances:\n- {name: a}\n", "c.csv", formatYAML},
		{"yaml flow key with comma", "instances: [{name: a, vcpu: 2}]\n", "c.csv", formatYAML},
		{"json object", "  \n{\"instances\": []}", "c.csv", formatYAML},
		{"json list", "[1, 2]", "", formatYAML},
		{"yaml comment", "# name,family\ninstances: []\n", "", formatYAML},
		{"yaml document start", "---\ninstances: []\n", "", formatYAML},
		{"yaml directive", "%YAML 1.2\n---\n", "", formatYAML},
		{"one word, yaml name", "instances\n", "c.YML", formatYAML},
		{"one word, json name", "x", "dir.d/c.json", formatYAML},
		{"one word, csv name", "name\n", "c.csv", formatCSV},
		{"one word, no name", "name\n", "", formatCSV},
		{"empty, yaml name", "", "c.yaml", formatYAML},
		{"empty", "", "", formatCSV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, sniff([]byte(tc.data), tc.file))
		})
	}
}
