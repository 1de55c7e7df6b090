package api

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/api/internal/testpki"
)

func TestTLSOptionsEnabled(t *testing.T) {
	t.Parallel()
	require.False(t, TLSOptions{}.Enabled())
	require.False(t, TLSOptions{KeyFile: "k", ClientCAFile: "ca"}.Enabled())
	require.True(t, TLSOptions{CertFile: "c"}.Enabled())
}

func TestServerTLSConfig(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
		return path
	}
	garbage := write("garbage.pem", "not PEM at all")
	keyAsCert := write("key-as-cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	_, otherKey := pki.ServerFiles(t, "other")
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name       string
		opts       TLSOptions
		wantErrs   []string
		clientAuth tls.ClientAuthType
	}{
		{name: "server only", opts: TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile}, clientAuth: tls.NoClientCert},
		{name: "optional client certs", opts: TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile}, clientAuth: tls.VerifyClientCertIfGiven},
		{name: "required client certs", opts: TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile, RequireClientCert: true}, clientAuth: tls.RequireAndVerifyClientCert},
		{name: "nothing set", opts: TLSOptions{}, wantErrs: []string{"tls: cert file is not set", "tls: key file is not set"}},
		{name: "cert without key", opts: TLSOptions{CertFile: pki.ServerCertFile}, wantErrs: []string{"tls: key file is not set"}},
		{name: "key without cert", opts: TLSOptions{KeyFile: pki.ServerKeyFile}, wantErrs: []string{"tls: cert file is not set"}},
		{name: "require without CA", opts: TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, RequireClientCert: true}, wantErrs: []string{"needs a client CA file"}},
		{
			name:     "missing files",
			opts:     TLSOptions{CertFile: missing, KeyFile: missing, ClientCAFile: missing},
			wantErrs: []string{"tls: cert file: open " + missing, "tls: key file: open " + missing, "tls: client CA file: open " + missing},
		},
		{
			name: "bad PEM everywhere",
			opts: TLSOptions{CertFile: garbage, KeyFile: garbage, ClientCAFile: garbage},
			wantErrs: []string{
				"tls: cert file " + garbage + ": no PEM certificate found",
				"tls: key file " + garbage + ": no PEM private key found",
				"tls: client CA file " + garbage + ": no PEM certificates found",
			},
		},
		{name: "corrupt certificate", opts: TLSOptions{CertFile: keyAsCert, KeyFile: pki.ServerKeyFile}, wantErrs: []string{"tls: cert file " + keyAsCert + ": certificate 1:"}},
		{name: "key is not a key", opts: TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerCertFile}, wantErrs: []string{"no PEM private key found"}},
		{name: "key mismatch", opts: TLSOptions{CertFile: pki.ServerCertFile, KeyFile: otherKey}, wantErrs: []string{"tls: key pair", "private key does not match public key"}},
		{name: "CA file without certs", opts: TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.ServerKeyFile}, wantErrs: []string{"no PEM certificates found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := ServerTLSConfig(tt.opts)
			if len(tt.wantErrs) > 0 {
				require.Error(t, err)
				require.Nil(t, cfg)
				for _, w := range tt.wantErrs {
					require.ErrorContains(t, err, w)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
			require.Equal(t, tt.clientAuth, cfg.ClientAuth)
			require.Equal(t, tt.opts.ClientCAFile != "", cfg.ClientCAs != nil)
			cert, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
			require.NoError(t, err)
			require.Equal(t, "localhost", cert.Leaf.Subject.CommonName)
		})
	}
}

// fakeClock is a settable clock for the reloader.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestServerTLSConfigReload rotates the key pair on disk and checks when GetCertificate picks it
// up. File times are set explicitly and the reload clock is fake, so nothing sleeps.
func TestServerTLSConfigReload(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	mtime := time.Now().Add(-time.Hour)
	install := func(cn string) {
		t.Helper()
		srcCert, srcKey := pki.ServerFiles(t, cn)
		for src, dst := range map[string]string{srcCert: certFile, srcKey: keyFile} {
			data, err := os.ReadFile(src)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(dst, data, 0o600))
			require.NoError(t, os.Chtimes(dst, mtime, mtime))
		}
		mtime = mtime.Add(time.Minute)
	}
	serving := func(cfg *tls.Config) string {
		t.Helper()
		cert, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
		require.NoError(t, err)
		return cert.Leaf.Subject.CommonName
	}

	install("v1")
	clock := &fakeClock{now: time.Now()}
	cfg, err := serverTLSConfig(TLSOptions{CertFile: certFile, KeyFile: keyFile}, clock.Now)
	require.NoError(t, err)
	require.Equal(t, "v1", serving(cfg))

	// Rotated, but checked less than a second after the last check: still v1.
	install("v2")
	clock.Advance(500 * time.Millisecond)
	require.Equal(t, "v1", serving(cfg))
	// A second after the load: v2.
	clock.Advance(500 * time.Millisecond)
	require.Equal(t, "v2", serving(cfg))

	// Half-written rotation (new cert, old key): keep serving v2, then pick up v3 once complete.
	srcCert, _ := pki.ServerFiles(t, "v3")
	data, err := os.ReadFile(srcCert)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, data, 0o600))
	require.NoError(t, os.Chtimes(certFile, mtime, mtime))
	mtime = mtime.Add(time.Minute)
	clock.Advance(time.Second)
	require.Equal(t, "v2", serving(cfg))

	install("v4")
	clock.Advance(time.Second)
	require.Equal(t, "v4", serving(cfg))

	// Files gone: keep serving v4.
	require.NoError(t, os.Remove(certFile))
	clock.Advance(time.Second)
	require.Equal(t, "v4", serving(cfg))
}

// TestServerTLSConfigHandshake checks the config in a real handshake, concurrently with reloads.
func TestServerTLSConfigHandshake(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	cfg, err := ServerTLSConfig(TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile, RequireClientCert: true})
	require.NoError(t, err)

	trusted, untrusted := pki.Client(t, "node-agent"), pki.Untrusted(t, "node-agent")
	tests := []struct {
		name    string
		cert    *tls.Certificate
		wantErr bool
	}{
		{name: "trusted client", cert: &trusted},
		{name: "no client cert", wantErr: true},
		{name: "untrusted client", cert: &untrusted, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
			require.NoError(t, err)
			defer func() { require.NoError(t, lis.Close()) }()
			serverErr := make(chan error, 1)
			go func() {
				c, err := lis.Accept()
				if err != nil {
					serverErr <- err
					return
				}
				err = c.(*tls.Conn).HandshakeContext(t.Context())
				_ = c.Close() // Its error adds nothing to the handshake's.
				serverErr <- err
			}()
			clientCfg := &tls.Config{RootCAs: pki.CAPool, MinVersion: tls.VersionTLS12}
			if tt.cert != nil {
				// Sent whatever CAs the server lists, as an attacker would.
				clientCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tt.cert, nil }
			}
			c, err := tls.Dial("tcp", lis.Addr().String(), clientCfg)
			if err == nil {
				// With TLS 1.3 the client learns of a rejected certificate on its first read.
				_, err = c.Read(make([]byte, 1))
				_ = c.Close()
			}
			require.Error(t, err) // The server never writes, so even success ends in an error (EOF).
			if tt.wantErr {
				require.Error(t, <-serverErr)
			} else {
				require.NoError(t, <-serverErr)
			}
		})
	}
}
