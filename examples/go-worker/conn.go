package main

// How the worker connects to NATS: the only place that knows about credentials and the inbox
// prefix (docs/protocol.md, "Connecting and permissions").

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// connConfig is how to reach NATS as this worker's user.
type connConfig struct {
	Servers     string // comma-separated URLs
	User        string // user/password auth ...
	Password    string
	Creds       string // ... or a .creds file
	InboxPrefix string // empty: derived from the user or the creds file
	Name        string // connection name shown by the server
}

// connect opens the connection. A scoped worker user may subscribe only to its own inbox prefix,
// so replies must come there: `_INBOX_<user>` for user/password, or the prefix the creds allow.
func connect(c connConfig) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(c.Name), nats.Timeout(5 * time.Second)}
	prefix := c.InboxPrefix
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
		if prefix == "" {
			p, err := inboxPrefixFromCreds(c.Creds)
			if err != nil {
				return nil, err
			}
			prefix = p
		}
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
		if prefix == "" {
			prefix = "_INBOX_" + c.User
		}
	}
	if prefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(prefix))
	}
	nc, err := nats.Connect(c.Servers, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", c.Servers, err)
	}
	return nc, nil
}

var inboxAllow = regexp.MustCompile(`^(_INBOX_[A-Za-z0-9_-]+)\.>$`)

// inboxPrefixFromCreds reads the `_INBOX_<name>.>` subscribe permission from the user JWT of a
// .creds file ("" when the credential may use the default `_INBOX`).
func inboxPrefixFromCreds(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		if strings.Contains(l, "BEGIN NATS USER JWT") && i+1 < len(lines) {
			parts := strings.Split(strings.TrimSpace(lines[i+1]), ".")
			if len(parts) != 3 {
				break
			}
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				return "", fmt.Errorf("creds %s: bad JWT: %w", path, err)
			}
			var claims struct {
				Nats struct {
					Sub struct {
						Allow []string `json:"allow"`
					} `json:"sub"`
				} `json:"nats"`
			}
			if err := json.Unmarshal(payload, &claims); err != nil {
				return "", fmt.Errorf("creds %s: bad JWT claims: %w", path, err)
			}
			for _, s := range claims.Nats.Sub.Allow {
				if m := inboxAllow.FindStringSubmatch(s); m != nil {
					return m[1], nil
				}
			}
			return "", nil
		}
	}
	return "", fmt.Errorf("creds %s: no user JWT found", path)
}
