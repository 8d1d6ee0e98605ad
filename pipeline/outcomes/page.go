package outcomes

import "github.com/lingerhq/linger/internal/svgplot"

// What the report pages share: their style sheet, their palette and the
// plots' sizes and ticks, so that the replay's page and `linger report`'s
// look alike.

// PageStyle is the style sheet of the report pages, the replay's and
// `linger report`'s, with the plots' classes. It holds no "<" or "&", so a
// page that embeds it still parses as XML.
const PageStyle = `body { margin: 0; background: #fff; color: #1f2328; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
p { margin: 6px 0; }
.meta, .note, figcaption { color: #57606a; }
.note, figcaption { font-size: 13px; max-width: 760px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px 5px 0; text-align: right; vertical-align: baseline; border-bottom: 1px solid #eaeef2; }
th:first-child, td:first-child { text-align: left; }
thead th { font-weight: 600; white-space: nowrap; border-bottom: 2px solid #d0d7de; }
tr.linger td { background: #f3f7fc; }
tr.linger .name { font-weight: 600; }
td .v { display: block; font-weight: 600; }
td .ci { display: block; color: #57606a; font-size: 12px; white-space: nowrap; }
td .rule { display: block; max-width: 300px; color: #57606a; font-size: 12px; }
td.note { text-align: left; }
.cols { display: flex; flex-wrap: wrap; gap: 16px 48px; }
figure { margin: 8px 0 24px; max-width: 720px; }
figure.square { max-width: 420px; }
` + svgplot.Style + `svg .hover:hover { fill: rgba(0, 0, 0, 0.06); }
footer { margin-top: 32px; color: #57606a; font-size: 12px; }
td.name, th.name { text-align: left; }
ul.note { padding-left: 20px; }
.warning { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; margin: 12px 0; max-width: 900px; }
`

// The plots' colours are the Okabe–Ito palette, told apart with
// colour-blindness too; a page that draws more than one line also sets them
// apart by dash, so a grey print still reads.
const (
	ColourBlue       = "#0072B2"
	ColourOrange     = "#E69F00"
	ColourGreen      = "#009E73"
	ColourVermillion = "#D55E00"
	// ColourGrey is for a reference line (a score that knows nothing).
	ColourGrey = "#8C959F"
	// ColourBand fills a target band (rate_band, the acceptance band),
	// light enough for the lines over it to read.
	ColourBand = "#009E73"
)

// PlotWidth is the width of a plot across the page, in pixels before
// scaling.
const PlotWidth = 720

// TickPercent formats a proportion tick as a percentage: 0.25 is "25%".
func TickPercent(v float64) string { return svgplot.TickNumber(100*v) + "%" }
