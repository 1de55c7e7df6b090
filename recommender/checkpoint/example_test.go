package checkpoint_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/rightsizer/rightsizer/recommender/checkpoint"
)

func Example() {
	dir, err := os.MkdirTemp("", "checkpoint-example")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	s, err := checkpoint.Open(filepath.Join(dir, "state", "checkpoint.db"), checkpoint.Options{})
	if err != nil {
		log.Fatal(err) // permissions, or another process holds the file
	}
	defer func() { _ = s.Close() }()
	if err := s.Recovered(); err != nil {
		// A damaged file was moved aside; the store starts empty.
		log.Print(err)
	}

	// A full checkpoint, then an incremental one.
	header := []byte("engine-encoding-v1")
	if err := s.Replace(checkpoint.Meta{Header: header}, []checkpoint.Record{
		{Key: []byte("default/web/nginx"), Value: []byte("nginx state")},
		{Key: []byte("default/web/sidecar"), Value: []byte("sidecar state")},
	}); err != nil {
		log.Fatal(err)
	}
	if err := s.Write(checkpoint.Meta{Header: header},
		[]checkpoint.Record{{Key: []byte("default/db/postgres"), Value: []byte("postgres state")}},
		[][]byte{[]byte("default/web/sidecar")},
	); err != nil {
		log.Fatal(err)
	}

	// On restart: stream the records back, in key order.
	meta, stats, err := s.Load(func(key, value []byte) error {
		fmt.Printf("%s: %s\n", key, value) // copy key and value to keep them
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("generation %d, header %s, %d records, %d skipped\n",
		meta.Generation, meta.Header, stats.Records, stats.Skipped)
	// Output:
	// default/db/postgres: postgres state
	// default/web/nginx: nginx state
	// generation 2, header engine-encoding-v1, 2 records, 0 skipped
}
