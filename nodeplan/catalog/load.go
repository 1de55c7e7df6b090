package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rightsizer/rightsizer/internal/errtext"
)

// MaxFileBytes bounds a catalog or price overrides file read by Load,
// LoadFile, LoadOverrides and LoadOverridesFile: 16 MiB, some thirty
// times a CSV catalog of every AWS instance type. YAML and JSON files are
// held to MaxYAMLBytes.
const MaxFileBytes = 16 << 20

// MaxYAMLBytes bounds a YAML or JSON catalog or price overrides file:
// 4 MiB, some eight times a catalog of every AWS instance type in block
// YAML. Parsing YAML takes some fifty to a hundred times the file's size
// in memory; larger catalogs should be CSV.
const MaxYAMLBytes = 4 << 20

// fileFormat is how a file is written.
type fileFormat int

const (
	formatCSV  fileFormat = iota
	formatYAML            // YAML or JSON, which is YAML
)

var utf8BOM = []byte("\ufeff")

// sniff tells CSV from YAML and JSON by content: JSON opens with '{' or
// '[', YAML with a comment, directive or "---" or has a ':' on its first
// line, which a CSV header never has; a first line with a ',' and no ':'
// is CSV. Only when the content says neither does the name's extension
// (.yaml, .yml, .json or .csv) decide, then CSV.
func sniff(data []byte, name string) fileFormat {
	s := bytes.TrimLeft(bytes.TrimPrefix(data, utf8BOM), " \t\r\n")
	first, _, _ := bytes.Cut(s, []byte("\n"))
	switch {
	case len(s) == 0:
	case s[0] == '{' || s[0] == '[' || s[0] == '#' || s[0] == '%' || bytes.HasPrefix(s, []byte("---")):
		return formatYAML
	case bytes.ContainsRune(first, ':'):
		return formatYAML
	case bytes.ContainsRune(first, ','):
		return formatCSV
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return formatYAML
	}
	return formatCSV
}

// readLimited reads r to its end, refusing more than MaxFileBytes.
func readLimited(r io.Reader, kind, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", kind, name, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s %s: larger than %d bytes", kind, name, MaxFileBytes)
	}
	return data, nil
}

// checkYAMLSize refuses YAML and JSON above MaxYAMLBytes.
func checkYAMLSize(data []byte, kind, name string) error {
	if len(data) > MaxYAMLBytes {
		return fmt.Errorf("%s %s: YAML or JSON larger than %d bytes: write it as CSV", kind, name, MaxYAMLBytes)
	}
	return nil
}

// Load reads a catalog in CSV (Parse's format), YAML or JSON (the same
// rows as mappings under "instances", keyed by the CSV's column names;
// see the package documentation), telling them apart by content. name is
// the file's name, used in errors and, only when the content does not
// tell, for its extension; it may be empty. Input above MaxFileBytes, or
// MaxYAMLBytes for YAML and JSON, is refused. Problems are reported as
// with Parse: every one (up to ten, then a count), each a *ParseError
// with the line and, for YAML and JSON, the path and instance type. O(n)
// in the file's size.
func Load(r io.Reader, name string) (*Catalog, error) {
	data, err := readLimited(r, "catalog", name)
	if err != nil {
		return nil, err
	}
	if sniff(data, name) == formatCSV {
		return parseCSV(bytes.NewReader(data), name)
	}
	if err := checkYAMLSize(data, "catalog", name); err != nil {
		return nil, err
	}
	return parseYAMLCatalog(data, name)
}

// LoadFile opens the file at path and Loads it, naming it by its path.
func LoadFile(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	return Load(f, path)
}

// errorList collects a file's problems: the first maxErrors, then a
// count.
type errorList struct {
	errs  []error
	extra int
}

func (l *errorList) add(errs ...error) {
	for _, e := range errs {
		if len(l.errs) < maxErrors {
			l.errs = append(l.errs, e)
		} else {
			l.extra++
		}
	}
}

func (l *errorList) err() error {
	if l.extra > 0 {
		return errors.Join(append(l.errs, fmt.Errorf("and %d more problems", l.extra))...)
	}
	return errors.Join(l.errs...)
}

var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeYAML parses one YAML document into its root node (nil for an
// empty file), turning the parser's errors into *ParseError.
func decodeYAML(data []byte, kind, file string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ParseError{kind: kind, File: file, Line: 1, Err: errors.New("empty file")}
		}
		if m := yamlLineError.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &ParseError{kind: kind, File: file, Line: line, Err: errors.New(m[2])}
		}
		return nil, &ParseError{kind: kind, File: file, Line: 1, Err: fmt.Errorf("parse YAML: %w", err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &ParseError{kind: kind, File: file, Line: max(extra.Line, 1), Err: errors.New("more than one YAML document")}
	}
	if len(doc.Content) != 1 {
		return nil, &ParseError{kind: kind, File: file, Line: 1, Err: errors.New("empty file")}
	}
	return doc.Content[0], nil
}

// yamlPair is one key and value of a mapping.
type yamlPair struct {
	key   string
	line  int // the key's
	value *yaml.Node
}

// mapping returns a mapping node's pairs, reporting a node that is not a
// mapping, keys that are not plain strings and repeated keys. at names
// the node in errors.
func mapping(n *yaml.Node, at func(line int, path string, err error) *ParseError, path string) ([]yamlPair, []error) {
	if n.Kind != yaml.MappingNode {
		return nil, []error{at(n.Line, path, fmt.Errorf("want a mapping, got %s", nodeKind(n)))}
	}
	var errs []error
	pairs := make([]yamlPair, 0, len(n.Content)/2)
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			if len(errs) < maxErrors {
				errs = append(errs, at(k.Line, path, fmt.Errorf("want a key name, got %s", nodeKind(k))))
			}
			continue
		}
		if l, dup := first[k.Value]; dup {
			if len(errs) < maxErrors {
				errs = append(errs, at(k.Line, join(path, k.Value), fmt.Errorf("repeated key (first at line %d)", l)))
			}
			continue
		}
		first[k.Value] = k.Line
		pairs = append(pairs, yamlPair{key: k.Value, line: k.Line, value: v})
	}
	return pairs, errs
}

// join appends a key to a YAML path.
func join(path, key string) string {
	key = errtext.Key(key)
	if path == "" || key == "" {
		return path + key
	}
	return path + "." + key
}

// scalar returns a single value's text ("" for null), or an error for
// anything else.
func scalar(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("want a single value, got %s", nodeKind(n))
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (*" + n.Value + "), which is not supported"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return strconv.Quote(errtext.Clip(n.Value))
	}
	return "nothing"
}

// yamlColumns are the columns of a YAML or JSON catalog row in the order
// of row.rec; yamlIndex maps them (prices by prefix) to it.
var (
	yamlColumns = append(slices.Clone(columns), priceColumnPrefix, spotColumnPrefix)
	yamlIndex   = func() map[string]int {
		m := make(map[string]int, len(yamlColumns))
		for i, c := range yamlColumns {
			m[c] = i
		}
		return m
	}()
)

// optionalKeys may be left out of a YAML or JSON catalog row.
var optionalKeys = []string{"gpu_count", "gpu_name", "gpu_mem_mib", "alloc_gpu", spotColumnPrefix}

// parseYAMLCatalog reads a YAML or JSON catalog.
func parseYAMLCatalog(data []byte, file string) (*Catalog, error) {
	root, err := decodeYAML(data, "", file)
	if err != nil {
		return nil, err
	}
	at := func(line int, path string, err error) *ParseError {
		return &ParseError{File: file, Line: line, Path: path, Err: err}
	}
	top, errs := mapping(root, at, "")
	var list *yaml.Node
	for _, p := range top {
		if p.key != "instances" {
			if len(errs) < maxErrors {
				errs = append(errs, at(p.line, join("", p.key), errors.New("unknown key: want instances")))
			}
			continue
		}
		list = p.value
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	switch {
	case list == nil:
		return nil, at(root.Line, "instances", errors.New("missing key"))
	case list.Kind != yaml.SequenceNode:
		return nil, at(list.Line, "instances", fmt.Errorf("want a list of instance types, got %s", nodeKind(list)))
	case len(list.Content) == 0:
		return nil, at(list.Line, "instances", errors.New("no instance types"))
	}

	c := &Catalog{byName: map[string]int{}}
	regionLine := 0
	first := map[string]string{} // instance type → path of its first entry
	var problems errorList
	for i, item := range list.Content {
		r := &row{rec: make([]string, len(yamlColumns)), idx: yamlIndex, line: item.Line, file: file,
			lines: make([]int, len(yamlColumns)), path: fmt.Sprintf("instances[%d]", i)}
		pairs, errs := mapping(item, at, r.path)
		var regionErrs []error
		for _, p := range pairs {
			col, rg := p.key, ""
			if prefix, region, ok := priceColumn(p.key); ok {
				if err := checkRegion(region); err != nil {
					errs = append(errs, at(p.line, join(r.path, p.key), err))
					continue
				}
				col, rg = prefix, region
			} else if !slices.Contains(columns, col) {
				if len(errs) < maxErrors {
					errs = append(errs, at(p.line, join(r.path, p.key), errors.New("unknown key")))
				}
				continue
			}
			j := yamlIndex[col]
			if r.lines[j] != 0 {
				errs = append(errs, at(p.line, join(r.path, p.key), fmt.Errorf("second %s<region> key (first at line %d)", col, r.lines[j])))
				continue
			}
			r.lines[j] = p.line
			v, err := scalar(p.value)
			if err != nil {
				errs = append(errs, at(p.value.Line, join(r.path, p.key), err))
				continue
			}
			r.rec[j] = v
			switch {
			case rg == "":
			case c.region == "":
				c.region, regionLine = rg, p.line
			case rg != c.region:
				regionErrs = append(regionErrs, at(p.line, join(r.path, p.key),
					fmt.Errorf("region %q differs from %q (line %d): a catalog has one region", errtext.Clip(rg), errtext.Clip(c.region), regionLine)))
			}
		}
		if item.Kind == yaml.MappingNode {
			for j, col := range yamlColumns {
				if r.lines[j] == 0 && !slices.Contains(optionalKeys, col) {
					key := col
					if col == priceColumnPrefix {
						key += "<region>"
					}
					errs = append(errs, at(item.Line, join(r.path, key), errors.New("missing key")))
				}
			}
		}
		errs = append(errs, regionErrs...)
		name := r.field("name")
		for _, e := range errs {
			var pe *ParseError
			if errors.As(e, &pe) {
				pe.Instance = name
			}
		}
		if len(errs) > 0 {
			problems.add(errs...)
			continue
		}
		r.region = c.region
		in := parseRow(r)
		if len(r.errs) > 0 {
			problems.add(r.errs...)
			continue
		}
		if prev, dup := first[in.Name]; dup {
			problems.add(&ParseError{File: file, Line: r.lines[yamlIndex["name"]], Path: r.path + ".name", Instance: in.Name,
				Err: fmt.Errorf("duplicate instance type (first at %s)", prev)})
			continue
		}
		first[in.Name] = r.path
		c.byName[in.Name] = len(c.instances)
		c.instances = append(c.instances, in)
	}
	if err := problems.err(); err != nil {
		return nil, err
	}
	c.gpus = cheapestGPUs(c.instances)
	return c, nil
}
