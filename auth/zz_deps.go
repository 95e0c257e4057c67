package auth

// Stand-in: keeps the modules the package is about to use in go.mod while it is written.
// The integrator deletes it.
import (
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/pquerna/otp/totp"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/oauth2"
)
