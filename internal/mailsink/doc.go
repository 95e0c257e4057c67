// Package mailsink is an SMTP server that keeps what it receives instead of delivering it:
// the mailbox of the dev stack (`kapok dev` runs one for Kapok Auth's confirmation,
// magic-link and recovery mails) and of tests that follow a link out of a mail.
//
// It speaks the subset of SMTP that mail clients use to submit a message (EHLO/HELO,
// optional STARTTLS, AUTH PLAIN accepting any credentials, MAIL FROM, RCPT TO, DATA with
// dot-unstuffing, RSET, NOOP, QUIT), caps a message at MaxMessageBytes, and keeps the
// newest MaxMessages in memory (and, given a directory, each one as <id>.eml there). An
// HTTP API lists them: GET /api/messages (newest first), GET /api/messages/{id},
// GET /api/messages/{id}/raw, DELETE /api/messages; / is a page listing them.
//
// It relays nothing, checks no credential and is meant for loopback addresses only: it
// must never be part of `kapok serve`.
package mailsink
