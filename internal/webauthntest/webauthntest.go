// Package webauthntest gives tests virtual passkeys that every relying
// party accepts.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"

	"github.com/descope/virtualwebauthn"
)

// Credential is virtualwebauthn.NewCredential(KeyTypeEC2) with a key the
// library encodes correctly. The library writes the public key's X and Y
// with big.Int.Bytes, which drops leading zero bytes: about one P-256 key
// in 128 comes out with a 31-byte coordinate, and go-webauthn rightly
// refuses it — a test that fails now and then for no reason of ours. So
// keys are drawn until both coordinates take all 32 bytes.
func Credential() virtualwebauthn.Credential {
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		if len(k.X.Bytes()) != 32 || len(k.Y.Bytes()) != 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}
