package webauthntest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"testing"
)

func TestCredentialKeysHaveFullCoordinates(t *testing.T) {
	for range 300 {
		c := Credential()
		k, err := x509.ParsePKCS8PrivateKey(c.Key.Data)
		if err != nil {
			t.Fatal(err)
		}
		pub := k.(*ecdsa.PrivateKey)
		if len(pub.X.Bytes()) != 32 || len(pub.Y.Bytes()) != 32 {
			t.Fatalf("a coordinate of %d/%d bytes", len(pub.X.Bytes()), len(pub.Y.Bytes()))
		}
	}
}
