"""Server-rendered line charts: plain values in, the geometry of an SVG out. Pure.

The template (templates/triage/charts.html) draws it with a <title> and <desc>, a legend
carrying each series' latest value, and a table of every value, so the figures are
readable without the picture and without JavaScript.
"""

import math

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 12, 34
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2")


def _missing(value):
    # None from the rollup; "" when a template hands over a figure of no row at all.
    return value is None or value == ""


def fmt_percent(value):
    return "–" if _missing(value) else f"{value * 100:.1f} %"


def fmt_ms(value):
    if _missing(value):
        return "–"
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:,.0f} ms"


def fmt_dollars(value):
    if _missing(value):
        return "–"
    return f"${value:,.2f}" if value >= 10 else f"${value:.4f}"


def fmt_number(value):
    return "–" if _missing(value) else f"{value:,.0f}"


FORMATS = {"percent": fmt_percent, "ms": fmt_ms, "dollars": fmt_dollars, "number": fmt_number}


def fmt_tick(value, unit, top):
    """Axis labels, short enough to stay legible when a phone shrinks the chart."""
    if unit == "percent":
        return f"{value * 100:g}%"
    if unit == "ms":
        return f"{value / 1000:g} s" if top >= 1000 else f"{value:g} ms"
    if unit == "dollars":
        return f"${value:.3g}" if value else "$0"
    return f"{value:,.3g}"


def nice_top(value):
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 × a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover


def line_chart(*, key, title, unit, x_labels, series, max_value=None):
    """`series`: [(label, [value or None per x label])]. Returns what the template draws:
    the axis, one polyline per unbroken run of values, a dot per value with its text."""
    fmt = FORMATS[unit]
    values = [v for _, vs in series for v in vs if v is not None]
    top = max_value if max_value is not None else nice_top(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(x_labels)

    def x(i):
        return round(LEFT + (plot_w / 2 if n == 1 else i * plot_w / (n - 1)), 1)

    def y(v):
        return round(TOP + (1 - min(v, top) / top) * plot_h, 1)

    drawn = []
    for index, (label, vs) in enumerate(series):
        lines, run, dots = [], [], []
        for i, v in enumerate(vs):
            if v is None:
                if run:
                    lines.append(" ".join(run))
                run = []
                continue
            run.append(f"{x(i)},{y(v)}")
            dots.append({"x": x(i), "y": y(v), "text": f"{label} {x_labels[i]}: {fmt(v)}"})
        if run:
            lines.append(" ".join(run))
        latest = next((v for v in reversed(vs) if v is not None), None)
        drawn.append(
            {
                "label": label,
                "color": PALETTE[index % len(PALETTE)],
                "lines": lines,
                "dots": dots,
                "latest": fmt(latest),
                "values": [fmt(v) for v in vs],
            }
        )
    ticks = [{"y": y(t), "text": fmt_tick(t, unit, top)} for t in (0, top / 2, top)]
    step = max(1, math.ceil(n / 6))
    x_ticks = [{"x": x(i), "text": x_labels[i]} for i in range(0, n, step)]
    latest = "; ".join(f"{s['label']} {s['latest']}" for s in drawn) or "no data"
    return {
        "key": key,
        "title": title,
        "desc": f"{title} per day, {x_labels[0]} to {x_labels[-1]}. Latest: {latest}."
        if x_labels
        else f"{title}: no data.",
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "bottom": HEIGHT - BOTTOM,
        "ticks": ticks,
        "x_ticks": x_ticks,
        "x_label_y": HEIGHT - 6,
        "series": drawn,
        "rows": [
            {"x": label, "values": [s["values"][i] for s in drawn]}
            for i, label in enumerate(x_labels)
        ],
        "empty": not values,
    }
