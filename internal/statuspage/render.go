package statuspage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	texttemplate "text/template"
)

//go:embed templates/page.html.tmpl
var templateFS embed.FS

//go:embed assets/status.css.tmpl assets/status.js
var assetFS embed.FS

// Asset paths the page links to (served by the API with Renderer.Asset).
const (
	AssetCSS = "/static/status.css"
	AssetJS  = "/static/status.js"
)

// Asset is a static file of the page.
type Asset struct {
	ContentType string
	Body        []byte
	// ETag is a strong entity tag of Body.
	ETag string
}

// Renderer executes the page template and holds the assets. It is immutable and safe for
// concurrent use.
type Renderer struct {
	page   *template.Template
	assets map[string]Asset
}

// NewRenderer parses the embedded templates and renders the stylesheet from the palette.
func NewRenderer() (*Renderer, error) {
	page, err := template.New("page.html.tmpl").Funcs(template.FuncMap{
		"add": func(a, b int) int { return a + b },
	}).ParseFS(templateFS, "templates/page.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("statuspage: parse page template: %w", err)
	}
	cssTmpl, err := texttemplate.ParseFS(assetFS, "assets/status.css.tmpl")
	if err != nil {
		return nil, fmt.Errorf("statuspage: parse stylesheet template: %w", err)
	}
	light, dark := Palette()
	var css bytes.Buffer
	if err := cssTmpl.Execute(&css, struct{ Light, Dark Theme }{light, dark}); err != nil {
		return nil, fmt.Errorf("statuspage: render stylesheet: %w", err)
	}
	js, err := assetFS.ReadFile("assets/status.js")
	if err != nil {
		return nil, fmt.Errorf("statuspage: read script: %w", err)
	}
	return &Renderer{page: page, assets: map[string]Asset{
		AssetCSS: newAsset("text/css; charset=utf-8", css.Bytes()),
		AssetJS:  newAsset("text/javascript; charset=utf-8", js),
	}}, nil
}

func newAsset(contentType string, body []byte) Asset {
	sum := sha256.Sum256(body)
	return Asset{ContentType: contentType, Body: body, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// Asset returns the static file served at path (AssetCSS, AssetJS).
func (r *Renderer) Asset(path string) (Asset, bool) {
	a, ok := r.assets[path]
	return a, ok
}

// pageData is what the template sees: the page and the asset paths.
type pageData struct {
	Page
	AssetCSS, AssetJS string
}

// Render writes the page as HTML.
func (r *Renderer) Render(w io.Writer, p Page) error {
	var buf bytes.Buffer
	if err := r.page.Execute(&buf, pageData{Page: p, AssetCSS: AssetCSS, AssetJS: AssetJS}); err != nil {
		return fmt.Errorf("statuspage: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("statuspage: write: %w", err)
	}
	return nil
}
