// Package release is Kapok's side of a release feed: it reads the feed, checks the
// release's ed25519 signature and the downloaded binary's SHA-256, and swaps the binary in
// place of an installed one, keeping the previous one next to it for a rollback. It also
// signs feeds, for whoever publishes releases.
//
// A feed is one JSON document:
//
//	{"version": "1.4.0",
//	 "url":    {"linux/amd64": "kapok-1.4.0-linux-amd64", "linux/arm64": "https://…"},
//	 "sha256": {"linux/amd64": "<hex>", "linux/arm64": "<hex>"},
//	 "signature": "<base64 ed25519 signature of the manifest>"}
//
// A url may be relative to the feed's own. The signature covers a canonical manifest
// (Manifest): the version and every platform's SHA-256, so a binary is trusted only under
// the version it was signed for, and an old signed release cannot pass for a new one. The
// URLs are not signed: the digest binds the bytes, wherever they come from.
//
// release must not decide when to upgrade, restart anything or run health checks: that is
// the command's (`kapok upgrade`), which also says what it did.
package release
