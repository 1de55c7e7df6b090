package apiload

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// These tests start the test binary itself as the server (see fakeServe);
// t.Setenv passes the mode, so they do not run in parallel.

func TestStartServer(t *testing.T) {
	t.Setenv(childEnv, "serve")
	s, err := StartServer(t.Context(), os.Args[0], time.Minute)
	require.NoError(t, err)
	require.Positive(t, s.PID())
	require.NotEmpty(t, s.Addrs.GRPC)
	require.Equal(t, "127.0.0.1:1", s.Addrs.HTTP)

	conn, err := grpc.NewClient(s.Addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	resp, err := rightsizerv1.NewRecommendationServiceClient(conn).ListRecommendations(t.Context(),
		&rightsizerv1.ListRecommendationsRequest{PageSize: 3})
	require.NoError(t, err)
	require.Len(t, resp.GetRecommendations(), 3)
	require.NoError(t, conn.Close())

	cpu, err := processCPU(s.PID())
	require.NoError(t, err)
	require.GreaterOrEqual(t, cpu, time.Duration(0))

	require.NoError(t, s.Stop(time.Minute), "SIGTERM gives a clean exit")
	_, err = os.Stat(s.dir)
	require.ErrorIs(t, err, os.ErrNotExist, "files removed")
	require.NoError(t, s.Stop(time.Minute), "stopping twice is harmless")
}

func TestStartServerFails(t *testing.T) {
	for _, tc := range []struct {
		name, mode, bin string
		timeout         time.Duration
		err             string
	}{
		{"exits before serving", "exit", os.Args[0], time.Minute, "fake server refuses to start"},
		{"bad address file", "garbage", os.Args[0], time.Minute, "read address file"},
		{"no such binary", "serve", "/nonexistent/rightsizer", time.Minute, "start /nonexistent/rightsizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(childEnv, tc.mode)
			_, err := StartServer(t.Context(), tc.bin, tc.timeout)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestStartServerCancelled(t *testing.T) {
	t.Setenv(childEnv, "hang")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := StartServer(ctx, os.Args[0], time.Minute)
	require.ErrorIs(t, err, context.Canceled)
}

func TestStartServerTimeout(t *testing.T) {
	t.Setenv(childEnv, "hang")
	_, err := StartServer(t.Context(), os.Args[0], time.Millisecond)
	require.ErrorContains(t, err, "no address file after 1ms")
}

func TestProcessCPU(t *testing.T) {
	t.Parallel()
	_, err := processCPU(os.Getpid())
	require.NoError(t, err)
	_, err = processCPU(-1)
	require.Error(t, err)
	require.Positive(t, selfCPU())
}
