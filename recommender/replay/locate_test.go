package replay

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLocate(t *testing.T) {
	t.Parallel()
	// root/
	//   shared/data/ds/           found walking up from root/a/b
	//   env/ds/                   found through the environment
	//   work/main/x/              a checkout beside work/shared
	//   work/shared/data/side/    found as A/../shared/data from work/main
	//   plain/                    an existing folder named directly
	//   file                      a file, not a folder
	root := t.TempDir()
	for _, d := range []string{"shared/data/ds", "env/ds", "work/main/x", "work/shared/data/side", "a/b", "plain"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o700))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "work/shared/data/file"), nil, 0o600))
	at := func(p string) string { return filepath.Join(root, p) }

	tests := []struct {
		name, ds, env, wd string
		want              string
		tried             []string // substrings of the error
	}{
		{name: "an existing folder as is", ds: at("plain"), wd: at("a/b"), want: at("plain")},
		{name: "environment first", ds: "ds", env: at("env"), wd: at("a/b"), want: at("env/ds")},
		{name: "walk up to shared/data", ds: "ds", wd: at("a/b"), want: at("shared/data/ds")},
		{name: "environment without the dataset", ds: "ds", env: at("plain"), wd: at("a/b"), want: at("shared/data/ds")},
		{name: "sibling shared/data", ds: "side", wd: at("work/main/x"), want: at("work/shared/data/side")},
		{
			name: "a file is not a dataset",
			ds:   "file",
			wd:   at("work/main/x"),
			tried: []string{
				`locate dataset "file"`, "RIGHTSIZER_DATA",
				at("work/main/x/shared/data/file"), at("work/shared/data/file"),
			},
		},
		{
			name:  "not found lists every path",
			ds:    "nope",
			env:   at("env"),
			wd:    at("a/b"),
			tried: []string{"nope", at("env/nope"), at("a/b/shared/data/nope"), at("a/shared/data/nope"), at("shared/data/nope")},
		},
		{name: "empty name", ds: "", wd: at("a/b"), tried: []string{"empty name"}},
		{name: "no working directory", ds: "ds", tried: []string{`"ds"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := locate(tc.ds, tc.env, tc.wd)
			if tc.want == "" {
				require.ErrorIs(t, err, fs.ErrNotExist)
				for _, s := range tc.tried {
					require.ErrorContains(t, err, s)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLocateFixtureFromWorkingDirectory(t *testing.T) {
	t.Parallel()
	got, err := Locate(fixtureBitbrains)
	require.NoError(t, err)
	require.Equal(t, fixtureBitbrains, got)
}
