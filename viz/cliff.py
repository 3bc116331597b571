"""The exploding-gradient cliff as a figure: the loss surface of a one-unit RNN over (w, b) on a log colour
scale, with a plain and a norm-clipped gradient-descent path across it (engine/cliff.py)."""
from __future__ import annotations

import numpy as np

from viz.spec import Spec, add_annotation, add_scatter, contour, figure, update_layout, update_xaxes, update_yaxes
from viz.style import BLUE, INK, NOTE_BG, VERMILION, power_label, style

LOSS_DECADES = (-2.0, 2.0)   # colour range of log10(loss): below 10^-2 all look alike, the wall spans the rest
SURFACE_SCALE = [[0.0, "#fbfbfb"], [0.5, "#b9b9b9"], [1.0, "#3b3b3b"]]   # grey: the coloured paths read on it
PATH_STYLE = {"plain": (VERMILION, "solid", "circle"), "clipped": (BLUE, "dot", "diamond")}


def _inside(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.all((p >= lo) & (p <= hi), axis=-1)


def _exit_note(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The first point of a path outside the view and the point before it (None when it stays inside)."""
    out = np.flatnonzero(~_inside(points, lo, hi))
    if out.size == 0 or out[0] == 0:
        return None
    return points[out[0] - 1], points[out[0]]


def cliff_figure(w: np.ndarray, b: np.ndarray, loss: np.ndarray, paths: dict[str, np.ndarray], *,
                 names: dict[str, str], title: str, wall: tuple[float, float] | None = None,
                 height: int = 560) -> Spec:
    """Contours of log10(loss) (nb, nw) over the grid w (nw,) x b (nb,), and each path (n + 1, 2) of (w, b)
    points drawn on top: ``paths`` keys "plain" and/or "clipped", ``names`` their legend entries. The axes
    keep the grid's range; a path that leaves it is cut at the edge, with a note saying where it went. ``wall``:
    a point (w, b) on the wall to label."""
    with np.errstate(divide="ignore"):
        z = np.log10(np.maximum(np.asarray(loss, dtype=np.float64), 1e-300))
    lo_d, hi_d = LOSS_DECADES
    ticks = np.arange(int(lo_d), int(hi_d) + 1)
    fig = figure()
    fig["data"].append(contour(
        x=np.asarray(w, dtype=np.float32), y=np.asarray(b, dtype=np.float32),
        z=np.clip(z, lo_d, hi_d).astype(np.float32), zmin=lo_d, zmax=hi_d, colorscale=SURFACE_SCALE,
        contours=dict(start=lo_d, end=hi_d, size=0.25, coloring="heatmap", showlines=True),
        line=dict(width=0.5, color="rgba(0,0,0,0.25)"), name="loss",
        colorbar=dict(title=dict(text="loss", side="top"), tickvals=ticks.astype(float),
                      ticktext=[power_label(k) for k in ticks], thickness=18),
        hovertemplate="w = %{x:.2f}<br>b = %{y:.2f}<br>log₁₀ loss = %{z:.2f}<extra></extra>"))
    lo = np.array([float(w[0]), float(b[0])])
    hi = np.array([float(w[-1]), float(b[-1])])
    for key in ("plain", "clipped"):
        if key not in paths:
            continue
        p = np.asarray(paths[key], dtype=np.float64)
        color, dash, symbol = PATH_STYLE[key]
        add_scatter(fig, x=p[:, 0], y=p[:, 1], mode="lines+markers", name=names[key],
                    line=dict(color=color, width=3, dash=dash), marker=dict(size=6, color=color, symbol=symbol),
                    hovertemplate="update %{customdata}<br>w = %{x:.3f}<br>b = %{y:.3f}<extra>" + names[key]
                    + "</extra>", customdata=np.arange(p.shape[0]))
        gone = _exit_note(p, lo, hi)
        if gone is not None:
            before, after = gone
            x = float(np.clip(before[0], lo[0], hi[0]))
            y = float(np.clip(before[1], lo[1], hi[1]))
            add_annotation(fig, x=x, y=y, xref="x", yref="y", ax=0, ay=-60, showarrow=True, arrowcolor=color,
                           arrowwidth=2, text=f"one step throws it to<br>(w, b) = ({after[0]:.1f}, {after[1]:.1f})",
                           font=dict(size=15, color=INK), bgcolor=NOTE_BG, bordercolor=color, borderwidth=1)
    if wall is not None:
        add_annotation(fig, x=float(wall[0]), y=float(wall[1]), xref="x", yref="y", ax=30, ay=50, showarrow=True,
                       arrowcolor=INK, arrowwidth=1.5, text="the wall", font=dict(size=15, color=INK), bgcolor=NOTE_BG)
    start = np.asarray(next(iter(paths.values())), dtype=np.float64)[0] if paths else None
    if start is not None:
        add_scatter(fig, x=[start[0]], y=[start[1]], mode="markers", name="start",
                    marker=dict(size=14, color="#ffffff", symbol="star", line=dict(color=INK, width=1.5)),
                    hovertemplate="start<br>w = %{x:.2f}<br>b = %{y:.2f}<extra></extra>")
    style(fig, title, "recurrent weight w", "bias b", height=height, legend_above=True)
    update_xaxes(fig, range=[lo[0], hi[0]], showgrid=False, zeroline=False)
    update_yaxes(fig, range=[lo[1], hi[1]], showgrid=False, zeroline=False)
    return update_layout(fig, hovermode="closest")
