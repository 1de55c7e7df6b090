package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/api/internal/testpki"
)

func TestPKI(t *testing.T) {
	t.Parallel()
	p := testpki.New(t)

	server, err := tls.LoadX509KeyPair(p.ServerCertFile, p.ServerKeyFile)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(server.Certificate[0])
	require.NoError(t, err)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: p.CAPool})
		require.NoError(t, err, host)
	}

	clientOpts := x509.VerifyOptions{Roots: p.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	client := p.Client(t, "node-agent")
	require.Equal(t, "node-agent", client.Leaf.Subject.CommonName)
	_, err = client.Leaf.Verify(clientOpts)
	require.NoError(t, err)

	certFile, keyFile := p.ClientFiles(t, "ci-bot")
	fromFiles, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	require.Equal(t, "ci-bot", fromFiles.Leaf.Subject.CommonName)

	untrusted := p.Untrusted(t, "node-agent")
	_, err = untrusted.Leaf.Verify(clientOpts)
	require.Error(t, err)
}
