"""Figures for the Phase diagram page: the gradient-decay map over (ρ, T − t) and the Lyapunov
exponent of the free tanh network against its gain. Pure: data in, figure spec out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz.payload import evenly_spaced, narrow
from viz.spec import Spec, add_annotation, contour, figure, heatmap, scatter, update_layout, update_xaxes, update_yaxes
from viz.style import BLUE, DIVERGING, FONT_SIZE, GREY, VERMILION, YELLOW, colorscale, style

CONTOUR_LEVELS = (-2.0, -4.0, -8.0)   # log10 of the ratio: 10^-2, 10^-4, 10^-8
Z_LIMIT = 10.0                         # colour scale spans log10 ratio in [-10, 10], centred on 0
MAX_ROWS = 250                         # distances drawn in the heatmap (subsampled above this)
MAX_CONTOUR_ROWS = 120                 # distances used for the contour lines
OVERFLOW_GREY = "#9a9a9a"
HATCH_GREY = "#4a4a4a"
ZERO_BLUE = "#053061"                  # the darkest blue of RdBu: "vanished completely"
LINE_INK = "#111111"
# Contour labels (annotations on the lines) sit on dark blue, pale blue and white alike: white, bold, with a dark halo.
CONTOUR_LABEL_FONT = dict(size=FONT_SIZE + 4, color="#ffffff", weight="bold",
                          shadow=f"0 0 2px {LINE_INK}, 0 0 3px {LINE_INK}, 1px 1px 2px {LINE_INK}")
LABEL_HEIGHTS = (0.7, 0.5, 0.3)        # rows of the three contour labels (fractions of the height): apart
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class PhaseMap:
    """One sweep of the engine, as the page shows it."""

    rhos: np.ndarray     # (R,) spectral radii, increasing
    ratios: np.ndarray   # (R, T) mean log10 ‖∂L/∂h_t‖/‖∂L/∂h_T‖; column j = step j+1; NaN = overflow
    bound: float         # ρ where σ_max·γ = 1 for this init (engine.bound_radius)
    gamma: float         # sup |f'|
    init: str
    activation: str
    n_hidden: int
    n_seeds: int
    dead: np.ndarray | None = None  # (R,) seeds per ρ whose final state gave no gradient (left out)

    @property
    def seq_len(self) -> int:
        return int(self.ratios.shape[1])


def power10(k: float) -> str:
    """10^k with a unicode superscript exponent: power10(-4) == '10⁻⁴'."""
    return "10" + f"{int(k)}".translate(SUPERSCRIPT)


def display_distances(T: int, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Distances T − t drawn in the map: all of 0..T−1 when few, else evenly spread (both ends kept)."""
    return evenly_spaced(T, max_rows)


def by_distance(ratios: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """(R, T) by step -> (len(distances), R) by distance T − t: row i holds distance distances[i]."""
    T = ratios.shape[1]
    return np.asarray(ratios, dtype=np.float64)[:, T - 1 - distances].T


def boundary_rho(pm: PhaseMap) -> float | None:
    """Smallest ρ of the map whose gradient at the largest distance T − 1 no longer shrinks
    (log10 ratio >= 0, or overflow): where vanishing gives way to exploding. None if it never does."""
    far = np.asarray(pm.ratios, dtype=np.float64)[:, 0]
    with np.errstate(invalid="ignore"):
        hit = np.flatnonzero(np.isnan(far) | (far >= -1e-6))   # tolerance: rho = 1 gives 0 to rounding
    return float(np.asarray(pm.rhos)[hit[0]]) if hit.size and pm.seq_len > 1 else None


def phase_readout(pm: PhaseMap) -> str:
    """One line: where the longest-travelled gradient stops shrinking, and where the σ_max bound is."""
    edge = boundary_rho(pm)
    far = pm.seq_len - 1
    if edge is None:
        head = f"In this map the gradient that travels all {far} steps shrinks at every ρ up to {float(pm.rhos[-1]):.2f}"
    elif edge <= float(pm.rhos[0]):
        head = f"In this map the gradient that travels all {far} steps does not shrink anywhere (from ρ = {edge:.2f})"
    else:
        head = f"In this map the gradient that travels all {far} steps stops shrinking at **ρ ≈ {edge:.2f}**"
    return head + f"; the σ_max·γ = 1 bound is at **ρ = {pm.bound:.2f}**."


_BENDS = {
    "tanh": "Here **tanh bends it to the right**: saturated units (f′ < 1) shrink the gradient at every step, "
            "so blue reaches well past ρ = 1 and explosion needs a larger ρ. ",
    "sigmoid": "Here **sigmoid bends it far to the right**: f′ ≤ 1/4, so the gradient vanishes unless ρ is "
               "near 4 or above. ",
    "relu": "Here **relu bends it to the right**: switched-off units (f′ = 0) cut paths, so explosion needs ρ "
            "well above 1. ",
    "linear": "This map is linear: the blue/red boundary sits on the ρ = 1 line. ",
}


def phase_caption(pm: PhaseMap, marker: tuple[float, int] | None, inside: bool) -> str:
    """What a student should see in the map, for this activation and init (`marker` None: no ★,
    the sidebar network is not a vanilla RNN)."""
    text = ("**What to see.** The contour lines mark where only 1 %, 10⁻⁴ and 10⁻⁸ of the gradient is left; "
            "the larger ρ, the further back they reach. For a **linear** network the boundary between blue "
            "and red is exactly ρ = 1 (for an orthogonal W_hh the ratio is (T − t)·log₁₀ρ). ")
    text += _BENDS.get(pm.activation, "")
    same = abs(pm.bound - 1.0) < 1e-6
    text += (f"Left of the {'ρ = 1' if same else 'dashed'} line σ_max·γ < 1 (σ_max: largest singular value, "
             "γ = sup|f′|), and vanishing is guaranteed for every input. ")
    if pm.init == "gaussian":
        text += (f"A **gaussian** W_hh has σ_max ≈ 2ρ only for large H; at H = {pm.n_hidden} its σ_max is "
                 f"about {1 / (pm.gamma * pm.bound):.2f}ρ, so it crosses that bound at ρ = {pm.bound:.2f}, not at "
                 f"ρ = 1/γ = {1 / pm.gamma:g} as a normal W_hh would. ")
    else:
        text += f"An {pm.init} W_hh is normal (σ_max = ρ), so the bound sits at ρ = 1/γ = {1 / pm.gamma:g}. "
    if marker is None:
        return text
    rho, T = marker
    text += f"The ★ is the sidebar network (ρ = {rho:.2f}, T = {T}): its first step is T − 1 = {T - 1} steps from the loss."
    if not inside:
        text += " It lies outside this map: widen the ρ range or raise the sequence length to see it."
    return text


def _small(a: np.ndarray, decimals: int = 3) -> np.ndarray:
    """float32, rounded: the payload carries 4 bytes per cell and no false precision."""
    return narrow(np.round(np.asarray(a, dtype=np.float64), decimals))


def _mask_trace(mask: np.ndarray, x, y, *, color: str, name: str, hover: str) -> dict:
    z = np.where(mask, 1.0, np.nan).astype(np.float32)
    return heatmap(x=x, y=y, z=z, zmin=0, zmax=1, colorscale=[[0, color], [1, color]],
                   showscale=False, name=name, showlegend=True, legendgroup=name,
                   hovertemplate=f"ρ = %{{x:.3f}}<br>T − t = %{{y}}<br>{hover}<extra></extra>")


def _hatch(mask: np.ndarray, x: np.ndarray, y: np.ndarray, name: str, cells: int = 28) -> dict:
    """Diagonal strokes on a coarse lattice over the masked cells: a hatch that reads in grey-scale."""
    xi, yi = evenly_spaced(x.size, cells), evenly_spaced(y.size, cells)
    jj, ii = np.meshgrid(xi, yi)
    keep = mask[ii, jj]
    return scatter(x=x[jj[keep]], y=y[ii[keep]], mode="markers", name=name, legendgroup=name,
                   showlegend=False, hoverinfo="skip",
                   marker=dict(symbol="line-ne", size=11, line=dict(width=2, color=HATCH_GREY)))


def _vline(x: float, y_top: float, name: str, dash: str, width: float = 3.5) -> dict:
    return scatter(x=[x, x], y=[0, y_top], mode="lines", name=name,
                   line=dict(color=LINE_INK, width=width, dash=dash),
                   hovertemplate=f"{name}<extra></extra>")


def phase_figure(pm: PhaseMap, marker: tuple[float, int] | None = None, *, height: int = 620) -> Spec:
    """Heatmap of log10 ‖∂L/∂h_t‖/‖∂L/∂h_T‖ over ρ (x) and distance T − t (y).

    Diverging colours centred on 0 (blue: vanishing, red: exploding), contour lines at the ratios
    10^-2, 10^-4, 10^-8, vertical lines at ρ = 1 and at the ρ where σ_max·γ = 1, overflowing cells
    as a hatched grey "overflow" layer, cells whose gradient is exactly 0 in dark blue, and
    `marker` = (ρ, T) of the sidebar network drawn at (ρ, T − 1), the distance from its last step
    back to its first.
    """
    rhos = np.asarray(pm.rhos, dtype=np.float64)
    T = pm.seq_len
    d = display_distances(T)
    vals = by_distance(pm.ratios, d)                        # (n_d, R)
    overflow = np.isnan(vals)
    zero = np.isneginf(vals)
    shown = np.where(np.isfinite(vals), vals, np.nan)
    x = _small(rhos, 4)
    ticks = np.arange(-Z_LIMIT, Z_LIMIT + 1, 2)
    ticktext = [f"{t:+.0f}" if t else "0" for t in ticks]
    ticktext[0], ticktext[-1] = f"≤ {ticks[0]:.0f}", f"≥ +{ticks[-1]:.0f}"
    traces: list = [heatmap(
        x=x, y=d, z=_small(shown), zmin=-Z_LIMIT, zmax=Z_LIMIT, zmid=0.0, colorscale=colorscale(DIVERGING),
        name="log₁₀ gradient ratio", showlegend=False,
        colorbar=dict(title=dict(text="log₁₀ ratio", side="right", font=dict(size=FONT_SIZE - 1)),
                      tickvals=ticks, ticktext=ticktext, tickfont=dict(size=FONT_SIZE - 2),
                      len=0.9, thickness=16, x=1.01),
        hovertemplate=("ρ = %{x:.3f}<br>T − t = %{y}<br>log₁₀ ‖∂L/∂h_t‖/‖∂L/∂h_T‖ = %{z:.3f}"
                       "<extra></extra>"),
    )]
    # Contour lines on a coarser grid of distances: they are smooth, and each carries its own z.
    dc_idx = evenly_spaced(d.size, MAX_CONTOUR_ROWS)
    zc = _small(np.where(np.isfinite(vals[dc_idx]), vals[dc_idx], np.where(zero[dc_idx], -1e3, np.nan)))
    for level in CONTOUR_LEVELS:
        traces.append(contour(
            x=x, y=d[dc_idx], z=zc, autocontour=False, contours=dict(
                start=level, end=level, size=1.0, coloring="none", showlabels=False),
            line=dict(color=LINE_INK, width=2), showscale=False, hoverinfo="skip",
            name=f"ratio {power10(level)}", legendgroup="contours", showlegend=False,
        ))
    levels = ", ".join(power10(v) for v in CONTOUR_LEVELS)
    labels = ", ".join(f"{v:.0f}".replace("-", "−") for v in CONTOUR_LEVELS)
    traces.append(scatter(x=[None], y=[None], mode="lines", legendgroup="contours", hoverinfo="skip",
                          name=f"contours: ratio {levels} (labelled {labels}, in log₁₀)",
                          line=dict(color=LINE_INK, width=2)))
    if overflow.any():
        name = "overflow (forward state beyond float64)"
        traces.append(_mask_trace(overflow, x, d, color=OVERFLOW_GREY, name=name,
                                  hover="overflow: the state left the float64 range"))
        traces.append(_hatch(overflow, x, d, name))
    if zero.any():
        traces.append(_mask_trace(zero, x, d, color=ZERO_BLUE, name="gradient exactly 0",
                                  hover="gradient exactly 0: ReLU units all off on the way back, or every seed dead"))
    top = T - 1
    if pm.dead is not None and np.asarray(pm.dead).any():
        k = np.flatnonzero(np.asarray(pm.dead) > 0)
        counts = np.asarray(pm.dead)[k]
        traces.append(scatter(
            x=x[k], y=np.full(k.size, top), mode="markers", cliponaxis=False,
            name="dead seeds: final state 0, no gradient (left out of the mean)",
            marker=dict(symbol="x-thin", size=12, line=dict(width=2.5, color=LINE_INK)),
            customdata=counts, hovertemplate=(f"ρ = %{{x:.3f}}<br>%{{customdata}} of {pm.n_seeds} seeds dead: every "
                                              "unit off at the last step,<br>so no gradient at all; left out of "
                                              "the mean<extra></extra>")))
    lo, hi = float(rhos.min()), float(rhos.max())
    pad = 0.5 * (hi - lo) / max(rhos.size - 1, 1) if hi > lo else 0.05
    xr = [lo - pad, hi + pad]
    same = abs(pm.bound - 1.0) < 1e-6
    one_name = "ρ = 1 and σ_max·γ = 1 (they coincide here)" if same else "ρ = 1 (spectral radius = max |eigenvalue|)"
    if xr[0] <= 1.0 <= xr[1]:
        traces.append(_vline(1.0, top, one_name, "solid"))
    bound_name = f"σ_max·γ = 1 at ρ = {pm.bound:.2f} (σ_max = largest singular value)"
    if not same and xr[0] <= pm.bound <= xr[1]:
        traces.append(_vline(pm.bound, top, bound_name, "dash"))
    if marker is not None:
        m_rho, m_T = float(marker[0]), int(marker[1])
        traces.append(scatter(
            x=[m_rho], y=[m_T - 1], mode="markers", name=f"sidebar network: ρ = {m_rho:.2f}, T = {m_T}",
            marker=dict(symbol="star", size=22, color=YELLOW, line=dict(width=2, color=LINE_INK)),
            hovertemplate=(f"sidebar network<br>ρ = {m_rho:.2f}, T = {m_T}<br>"
                           f"its step 1 is T − t = {m_T - 1} steps from the loss<extra></extra>"),
            cliponaxis=False))
    fig = figure(traces)
    title = (f"Where gradients vanish or explode: {pm.activation}, {pm.init} W_hh, "
             f"H = {pm.n_hidden}, mean of {pm.n_seeds} seeds")
    style(fig, title, "spectral radius ρ of W_hh", "distance T − t  (steps back from the loss)",
          height=height)
    # A light legend box in both themes: the black line samples must stay visible on a dark page.
    update_layout(fig, legend=dict(orientation="h", yanchor="top", y=-0.2, x=0.0, xanchor="left",
                                   font=dict(size=FONT_SIZE - 2, color=LINE_INK), groupclick="togglegroup",
                                   bgcolor="rgba(255,255,255,0.92)", bordercolor=GREY, borderwidth=1),
                  margin=dict(t=80, b=206, r=40))
    update_xaxes(fig, range=xr, showgrid=False, zeroline=False)
    update_yaxes(fig, range=[-0.5, top + 0.5], showgrid=False, zeroline=False)
    _line_labels(fig, pm.bound, xr, same)
    for k, level in enumerate(CONTOUR_LEVELS):
        at = contour_label_point(zc, x, d[dc_idx], level, LABEL_HEIGHTS[k % len(LABEL_HEIGHTS)])
        if at is not None:
            add_annotation(fig, x=at[0], y=at[1], xref="x", yref="y", showarrow=False,
                           text=f"{level:.0f}".replace("-", "−"), font=dict(CONTOUR_LABEL_FONT))
    return fig


def contour_label_point(z: np.ndarray, x: np.ndarray, y: np.ndarray, level: float,
                        height: float) -> tuple[float, float] | None:
    """Where to write a contour line's label: the first crossing of `level` along the row of `z`
    nearest to `height` (a fraction of the rows, 0 = bottom) that has one, with x interpolated
    linearly between the two cells, as the contour line itself is drawn. None if no row crosses.

    Plotly can place contour labels itself (contours.showlabels), but it searches along each drawn
    path in the browser on every redraw, about 110 ms per move on this page; these points are computed
    once with the figure."""
    z = np.asarray(z, dtype=np.float64)
    rows = np.argsort(np.abs(np.arange(z.shape[0]) - height * (z.shape[0] - 1)), kind="stable")
    for r in rows:
        a, b = z[r, :-1] - level, z[r, 1:] - level
        hit = np.flatnonzero(np.isfinite(a) & np.isfinite(b) & (a * b <= 0) & (a != b))
        if hit.size:
            j = int(hit[0])
            f = a[j] / (a[j] - b[j])
            return float(x[j] + f * (x[j + 1] - x[j])), float(y[r])
    return None


def _line_labels(fig: Spec, bound: float, xr: list[float], same: bool) -> None:
    """Names of the vertical lines written just above the plot, and a pointer when a line is off the map."""
    labels = [(1.0, "ρ = 1 and σ_max·γ = 1" if same else "ρ = 1")]
    if not same:
        labels.append((bound, "σ_max·γ = 1"))
    close = len(labels) == 2 and abs(labels[0][0] - labels[1][0]) < 0.25 * (xr[1] - xr[0])
    for xv, text in labels:
        if xr[0] <= xv <= xr[1]:
            anchor = "center"
            if close:  # push the two names apart so they do not overprint
                anchor = "right" if xv == min(o for o, _ in labels) else "left"
            add_annotation(fig, x=xv, y=1.0, xref="x", yref="paper", yanchor="bottom", xanchor=anchor,
                           text=f"<b>{text}</b>", showarrow=False, font=dict(size=FONT_SIZE - 1))
        else:
            right = xv > xr[1]
            add_annotation(fig, x=1.0 if right else 0.0, y=1.0, xref="paper", yref="paper",
                           xanchor="right" if right else "left", yanchor="bottom", showarrow=False,
                           text=f"{text} at ρ = {xv:.2f} is off the map " + ("→" if right else "←"),
                           font=dict(size=FONT_SIZE - 2))


def lyapunov_figure(gains, exponents, *, height: int = 430) -> Spec:
    """Largest Lyapunov exponent of h_{t+1} = tanh(W h_t), W ~ N(0, g²/n), against the gain g,
    with the zero line (edge of chaos)."""
    g = np.asarray(gains, dtype=np.float64)
    lam = np.asarray(exponents, dtype=np.float64)
    fig = figure([
        scatter(x=[float(g.min()), float(g.max())], y=[0.0, 0.0], mode="lines",
                name="λ = 0: the edge of chaos", line=dict(color=GREY, width=3, dash="dash"),
                hoverinfo="skip"),
        scatter(x=_small(g, 4), y=_small(lam, 5), mode="lines+markers", name="largest Lyapunov exponent λ",
                line=dict(color=BLUE, width=3), marker=dict(size=6),
                hovertemplate="g = %{x:.2f}<br>λ = %{y:+.4f} per step<extra></extra>"),
    ])
    style(fig, "Edge of chaos: Lyapunov exponent against gain", "gain g  (W_ij ~ N(0, g²/n), so ρ ≈ g)",
          "λ  (nats per step)", height=height, legend_above=True)
    finite = lam[np.isfinite(lam)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    pad = 0.12 * max(hi - lo, 0.2)
    # Labels in the corners the curve does not visit: it rises from order (left, below 0) to chaos (right).
    add_annotation(fig, x=0.98, y=0.04, xref="paper", yref="paper", xanchor="right", yanchor="bottom",
                   text="below 0: order, nearby states converge", showarrow=False, font=dict(color=BLUE))
    add_annotation(fig, x=0.02, y=0.96, xref="paper", yref="paper", xanchor="left", yanchor="top",
                   text="above 0: chaos, nearby states separate", showarrow=False, font=dict(color=VERMILION))
    update_yaxes(fig, range=[min(lo, 0.0) - pad, max(hi, 0.0) + pad], zeroline=False)
    update_xaxes(fig, range=[float(g.min()) - 0.05, float(g.max()) + 0.05])
    return fig
