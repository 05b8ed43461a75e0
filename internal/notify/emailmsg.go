package notify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// emailSubjectMax bounds the subject (in runes) so the header line stays short.
const emailSubjectMax = 200

// MessageID is the Message-ID of the email for delivery id: stable across retries, so receiving
// systems can drop duplicates.
func MessageID(deliveryID string) string {
	sum := sha256.Sum256([]byte(deliveryID))
	return "<" + hex.EncodeToString(sum[:]) + "@checkflow>"
}

// composeEmail renders m as a multipart/alternative message (text/plain and text/html, both
// quoted-printable UTF-8) with CRLF line endings.
func composeEmail(from mail.Address, to []mail.Address, m Message, now time.Time) []byte {
	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	writePart(mw, "text/plain; charset=utf-8", emailText(m))
	writePart(mw, "text/html; charset=utf-8", emailHTML(m))
	_ = mw.Close()

	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	var b bytes.Buffer
	header := func(k, v string) {
		b.WriteString(k + ": " + v + "\r\n")
	}
	header("From", from.String())
	header("To", strings.Join(rcpts, ",\r\n "))
	header("Subject", mime.QEncoding.Encode("utf-8", truncateRunes(oneLine(displayTitle(m)), emailSubjectMax)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", MessageID(m.ID))
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	header("Auto-Submitted", "auto-generated")
	header(HeaderDelivery, oneLine(m.ID))
	if m.Event != "" {
		header(HeaderEvent, oneLine(m.Event))
	}
	b.WriteString("\r\n")
	b.Write(parts.Bytes())
	return b.Bytes()
}

// writePart adds one quoted-printable part.
func writePart(mw *multipart.Writer, contentType, content string) {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(h)
	if err != nil { // writes to a bytes.Buffer do not fail
		return
	}
	qp := quotedprintable.NewWriter(w)
	_, _ = qp.Write([]byte(content))
	_ = qp.Close()
}

// oneLine keeps printable ASCII-safe header text: control characters (CR, LF …) become spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
}

// emailText is the text/plain rendering.
func emailText(m Message) string {
	var b strings.Builder
	b.WriteString(displayTitle(m) + "\n\n")
	if body := strings.TrimSpace(m.Body); body != "" {
		b.WriteString(convertBold(body, "", "") + "\n\n")
	}
	for _, f := range facts(m) {
		b.WriteString(f.label + ": " + f.value + "\n")
	}
	if len(m.Checks) > 0 {
		b.WriteString("\nChecks:\n")
		for _, c := range m.Checks {
			b.WriteString("  - " + checkName(c) + ": " + orUnknown(c.Status) + "\n")
		}
	}
	if u := linkURL(m); u != "" {
		b.WriteString("\nView system: " + u + "\n")
	}
	b.WriteString("\n-- \nSent by checkflow (delivery " + m.ID + ")\n")
	return b.String()
}

// emailTitleColor is the headline colour of the HTML rendering.
func emailTitleColor(m Message) string {
	switch severityKind(m) {
	case statusHealthy:
		return "#2EB67D"
	case statusDegraded:
		return "#B7791F"
	case statusUnhealthy:
		return "#E01E5A"
	}
	return "#555555"
}

// emailHTML is the text/html rendering: every value escaped, **bold** as <strong>.
func emailHTML(m Message) string {
	esc := html.EscapeString
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><body style=\"font-family:Helvetica,Arial,sans-serif;color:#222\">\n")
	b.WriteString("<h2 style=\"color:" + emailTitleColor(m) + "\">" + esc(displayTitle(m)) + "</h2>\n")
	if body := strings.TrimSpace(m.Body); body != "" {
		text := convertBold(esc(body), "<strong>", "</strong>")
		b.WriteString("<p>" + strings.ReplaceAll(text, "\n", "<br>\n") + "</p>\n")
	}
	b.WriteString("<table cellpadding=\"4\">\n")
	for _, f := range facts(m) {
		b.WriteString("<tr><th align=\"left\">" + esc(f.label) + "</th><td>" + esc(f.value) + "</td></tr>\n")
	}
	b.WriteString("</table>\n")
	if len(m.Checks) > 0 {
		b.WriteString("<ul>\n")
		for _, c := range m.Checks {
			b.WriteString("<li>" + esc(checkName(c)) + ": <strong>" + esc(orUnknown(c.Status)) + "</strong></li>\n")
		}
		b.WriteString("</ul>\n")
	}
	if u := linkURL(m); u != "" {
		b.WriteString("<p><a href=\"" + esc(u) + "\">View system</a></p>\n")
	}
	b.WriteString("<p style=\"color:#888;font-size:small\">Sent by checkflow (delivery " + esc(m.ID) + ")</p>\n")
	b.WriteString("</body></html>\n")
	return b.String()
}
