"""Figures for the Gradients (BPTT) page."""
from __future__ import annotations

import numpy as np

from viz.spec import (
    Spec,
    add_annotation,
    add_vline,
    add_vrect,
    bar,
    figure,
    heatmap,
    scatter,
    update_layout,
    update_xaxes,
    update_yaxes,
)
from viz.style import (
    BLUE,
    FONT_SIZE,
    GREEN,
    GREY,
    INK,
    NOTE_BG,
    ORANGE,
    PURPLE,
    SEQUENTIAL,
    VERMILION,
    animation_controls,
    colorscale,
    empty,
    finite,
    frame_steps,
    log_axis,
    log_range,
    note_box,
    positive,
    power_label,
    style,
    view_band,
    widen_for,
)


def anchored_power(values, rate: float, anchor: int | None = None) -> np.ndarray:
    """values[a] · rate^(a − i) for i = 0..n−1, with a the last positive finite index.

    Computed in log space so huge or tiny powers do not overflow; entries beyond
    float64 range become 0 or inf. Returns NaN everywhere if nothing is positive.
    """
    v = positive(values)
    n = v.size
    idx = np.flatnonzero(np.isfinite(v))
    if anchor is None:
        if idx.size == 0:
            return np.full(n, np.nan)
        anchor = int(idx[-1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_rate = np.log10(rate) if rate > 0 else -np.inf
        dist = anchor - np.arange(n)
        log_vals = np.log10(v[anchor]) + dist * log_rate
        log_vals = np.where(dist == 0, np.log10(v[anchor]), log_vals)
        return np.power(10.0, np.clip(log_vals, -400.0, 400.0))


def _clip_to_view(values: np.ndarray, yrange) -> np.ndarray:
    """Keep overlay lines drawable on a log axis: clamp to a band around the view."""
    lo, hi = view_band(yrange)
    with np.errstate(invalid="ignore"):
        return np.clip(values, lo, hi)


def overlay_names(rho: float, sigma_max: float, gamma: float) -> tuple[str, str]:
    eta = gamma * sigma_max
    return (f"bound (γ·σ_max)^(T−t), γ·σ_max = {eta:.3g}",
            f"ρ^(T−t), ρ = {rho:.3g} (eigenvalue rate)")


def _overflow_band(fig: Spec, overflow_step: int, T: int) -> int:
    """Grey band over the steps from the overflow on (they hold no number) and a dashed edge.
    Returns the overflow step, 1-based."""
    over = int(overflow_step) + 1
    if over <= T:
        add_vrect(fig, over - 0.5, T + 0.5, fillcolor=GREY, opacity=0.18, line=dict(width=0), layer="below")
    add_vline(fig, over, line=dict(color=GREY, dash="dash", width=2))
    return over


def _overflow_label(fig: Spec, over: int, T: int, text: str) -> None:
    """The label of the overflow line, clear of it: inside the grey band when the band is wide
    enough, else to the left of the line near the bottom, where a rising curve has not arrived yet."""
    right = (T - over) >= 0.3 * T
    add_annotation(fig, x=over, y=0.5 if right else 0.04, xref="x", yref="paper",
                   xanchor="left" if right else "right", yanchor="middle" if right else "bottom",
                   xshift=12 if right else -12, text=text, showarrow=False, align="left",
                   font=dict(size=FONT_SIZE, color=INK), bgcolor=NOTE_BG, bordercolor=GREY,
                   borderwidth=1, borderpad=6)


def forward_overflow_figure(h_norm, overflow_step: int) -> Spec:
    """When the forward pass overflowed no gradient exists: show ‖h_t‖ up to the overflow."""
    v = positive(h_norm)
    T = v.size
    t = np.arange(1, T + 1)
    fig = figure([scatter(x=t, y=v, mode="lines", name="‖h_t‖ (forward pass)",
                          line=dict(color=VERMILION, width=3),
                          hovertemplate="t = %{x}<br>‖h_t‖ = %{y:.3e}<extra></extra>")])
    over = _overflow_band(fig, overflow_step, T)
    _overflow_label(fig, over, T, f"<b>overflow at t = {over}</b><br>‖h_t‖ passed 10³⁰⁸:<br>"
                                  "no loss, so no gradient")
    style(fig, "No gradient: the forward pass overflowed. ‖h_t‖ on the way there",
          "time step t", "‖h_t‖  (log scale)", height=460, legend_above=True)
    update_layout(fig, showlegend=True)
    log_axis(fig, log_range(v))
    update_xaxes(fig, range=[0.5, T + 0.5])
    return fig


def grad_norm_caption(has_gradient: bool, overflow_step: int | None, gamma: float, sigma_max: float,
                      rho: float) -> str:
    """The sentence under the first chart of the Gradients page, matching what that chart shows
    (the forward-overflow chart has no Play button and no bound lines)."""
    if not has_gradient and overflow_step is not None:
        return (f"The state grew by a constant factor per step (a straight line on this log axis) until it "
                f"left the range of 64-bit floats at t = {overflow_step + 1}. From there on nothing is a "
                "number, so there is no loss and no gradient to send back: lower ρ or T, or pick a "
                "saturating activation such as tanh.")
    eta = gamma * sigma_max
    bound = ("below 1 it guarantees vanishing" if eta < 1 else
             f"at {eta:.3g} ≥ 1 it guarantees nothing either way")
    return (f"Press ▶ Play to send the gradient back from t = T. A straight line on this log axis "
            f"means a constant factor per step. The dashed line is the worst-case rate "
            f"γ·σ_max = {gamma:g} × {sigma_max:.3g}, an upper bound for a loss at the last step: {bound}. "
            f"The dotted one is the eigenvalue rate ρ = {rho:.3g}, the long-run rate for linear units only. "
            "Both start at the value of the last step.")


def gated_grad_caption(cell: str, has_gradient: bool, overflow_step: int | None) -> str:
    """The sentence under the first chart of the Gradients page for a gated cell: which bound applies."""
    if not has_gradient and overflow_step is not None:
        return (f"The forward pass left the range of 64-bit floats at t = {overflow_step + 1}, so there is "
                "no loss and no gradient to send back.")
    if cell == "lstm":
        return ("Press ▶ Play to send the gradient back from t = T. The vanilla RNN's bound (γ·σ_max)^(T−t) "
                "does not apply to the LSTM: along the direct edge from c_{t−1} to c_t the gradient is "
                "multiplied by the forget gate f_t, element by element, not by W_hh and f′; the gates read "
                "h_{t−1} through W_hh, and those paths add their own terms. With f close to 1 the "
                "‖∂L/∂c_t‖ line (diamonds) stays flat over many steps; with f ≈ 0.5 the direct edge halves it "
                "every step, and the LSTM vanishes too. ‖∂L/∂h_t‖ follows it through h_t = o_t ⊙ tanh(c_t).")
    return ("Press ▶ Play to send the gradient back from t = T. The vanilla RNN's bound (γ·σ_max)^(T−t) "
            "does not apply to the GRU: its step Jacobian is diag(z_t) plus terms through W_hh, and the "
            "diag(z_t) part, from h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}, copies the state and its "
            "gradient unchanged when z ≈ 1. A closed update gate (high bias) keeps the line flat.")


def gated_jacobian_caption(cell: str) -> str:
    """The sentence under the Jacobian chart for a gated cell."""
    if cell == "lstm":
        return ("Green: the largest stretch the chain of step Jacobians of the whole state (h, c) can "
                "apply between step t and the end. Dashed: the cell path alone, c_t → c_T, "
                "where each step only multiplies by the forget gate: its gain is the largest product "
                "f_{t+1}·…·f_T over the units. No W_hh and no f′ on that path: that is the LSTM's cure, "
                "as long as f stays close to 1 (raise the forget-gate bias to see the dashed line flatten).")
    return ("Green: the largest stretch the chain of step Jacobians can apply between step t and the "
            "end. Dashed: the copy path alone, where each step multiplies by the update gate "
            "z: its gain is the largest product z_{t+1}·…·z_T over the units. When it stays near 1, "
            "the GRU carries its state, and its gradient, across many steps.")


def grad_norm_figure(grad_norm, rho: float, sigma_max: float, gamma: float,
                     max_frames: int = 40, *, grad_c_norm=None, bounds: bool = True) -> Spec:
    """‖∂L/∂h_t‖ against t on a log axis, animated from t = T back to t = 1.

    Overlays (with `bounds`, the vanilla RNN): (γσ_max)^(T−t) and ρ^(T−t), both scaled to equal the
    gradient at the last step that has a finite, positive value. A gated cell has no such bound:
    pass bounds=False. `grad_c_norm` (LSTM): ‖∂L/∂c_t‖ drawn beside it and animated with it.
    """
    g = positive(grad_norm)
    T = g.size
    t = np.arange(1, T + 1)
    gc = None if grad_c_norm is None else positive(grad_c_norm)
    title = ("How much gradient reaches each step: ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖" if gc is not None
             else "How much gradient reaches each step: ‖∂L/∂h_t‖")
    if not np.isfinite(g).any() and (gc is None or not np.isfinite(gc).any()):
        return empty(title, "Every ‖∂L/∂h_t‖ is zero or not finite: no gradient to show.")
    mode = "lines+markers" if T <= 150 else "lines"
    traces = [
        scatter(x=t, y=g, mode=mode, name="‖∂L/∂h_t‖ (BPTT)", line=dict(color=BLUE, width=3),
                marker=dict(size=6), hovertemplate="t = %{x}<br>‖∂L/∂h_t‖ = %{y:.3e}<extra></extra>"),
    ]
    if gc is not None:
        traces.append(scatter(x=t, y=gc, mode=mode, name="‖∂L/∂c_t‖ (cell state, BPTT)",
                              line=dict(color=PURPLE, width=3), marker=dict(size=6, symbol="diamond"),
                              hovertemplate="t = %{x}<br>‖∂L/∂c_t‖ = %{y:.3e}<extra></extra>"))
    yr = log_range(g) if gc is None else log_range(g, gc)
    if bounds:
        yr = widen_for(yr, anchored_power(g, gamma * sigma_max), anchored_power(g, rho))
        bound = _clip_to_view(anchored_power(g, gamma * sigma_max), yr)
        rate = _clip_to_view(anchored_power(g, rho), yr)
        name_bound, name_rho = overlay_names(rho, sigma_max, gamma)
        traces += [
            scatter(x=t, y=bound, mode="lines", name=name_bound,
                    line=dict(color=VERMILION, width=2.5, dash="dash"), hoverinfo="skip"),
            scatter(x=t, y=rate, mode="lines", name=name_rho,
                    line=dict(color=ORANGE, width=2.5, dash="dot"), hoverinfo="skip"),
        ]
    moving = [0] if gc is None else [0, 1]
    starts = frame_steps(T, max_frames)[::-1]  # from t = T back to t = 1
    names = [f"{s + 1}" for s in starts]
    frames = [dict(name=nm, traces=list(moving),
                   data=[scatter(x=t[s:], y=series[s:]) for series in ([g] if gc is None else [g, gc])])
              for s, nm in zip(starts, names)]
    fig = figure(traces, {}, frames)
    ylabel = "‖∂L/∂h_t‖  (log scale)" if gc is None else "gradient norm  (log scale)"
    style(fig, title, "time step t", ylabel, height=560, legend_above=True)
    log_axis(fig, yr)
    update_xaxes(fig, range=[0.5, T + 0.5])
    animation_controls(fig, names, prefix="backprop has reached t = ", duration=90)
    return fig


PATH_NAMES = {"lstm": ("‖∂c_T/∂c_t‖ along the cell path (product of forget gates)", "‖∂s_T/∂s_t‖₂, s = (h, c)"),
              "gru": ("copy path: largest ∏ z_s over units (the z ⊙ h term)", "‖∂h_T/∂h_t‖₂")}


def jacobian_figure(steps, norms, T: int, rho: float, sigma_max: float, gamma: float, *,
                    cell: str = "rnn", path_norm=None) -> Spec:
    """‖∂h_T/∂h_t‖ (spectral norm) with the (γσ_max)^(T−t) upper bound and ρ^(T−t).

    A gated cell (`cell` "lstm" or "gru") has no such bound; instead `path_norm` (T,) is drawn: for
    the LSTM ‖∂c_T/∂c_t‖ along the cell path alone, for the GRU the gain of the copy path z ⊙ h. For
    the LSTM the whole-state norm is of s = (h, c).
    """
    s = np.asarray(steps, dtype=int)
    j = positive(norms)
    t = s + 1
    if cell in PATH_NAMES:
        return _gated_jacobian_figure(t, j, T, cell, path_norm)
    title = "How much step t can still move the last state: ‖∂h_T/∂h_t‖"
    if not np.isfinite(j).any():
        return empty(title, "‖∂h_T/∂h_t‖ is zero or not finite at every step shown.")
    dist = T - t
    with np.errstate(all="ignore"):
        bound = np.power(10.0, np.clip(dist * np.log10(gamma * sigma_max)
                                       if gamma * sigma_max > 0 else -np.inf * (dist > 0), -400, 400))
        rate = np.power(10.0, np.clip(dist * np.log10(rho) if rho > 0
                                      else -np.inf * (dist > 0), -400, 400))
    name_bound, name_rho = overlay_names(rho, sigma_max, gamma)
    yr = widen_for(log_range(j), bound, rate)
    bound, rate = _clip_to_view(bound, yr), _clip_to_view(rate, yr)
    fig = figure([
        scatter(x=t, y=j, mode="lines+markers" if t.size <= 150 else "lines",
                name="‖∂h_T/∂h_t‖₂", line=dict(color=GREEN, width=3),
                hovertemplate="t = %{x}<br>‖∂h_T/∂h_t‖ = %{y:.3e}<extra></extra>"),
        scatter(x=t, y=bound, mode="lines", name="upper " + name_bound,
                line=dict(color=VERMILION, width=2.5, dash="dash"), hoverinfo="skip"),
        scatter(x=t, y=rate, mode="lines", name=name_rho,
                line=dict(color=ORANGE, width=2.5, dash="dot"), hoverinfo="skip"),
    ])
    style(fig, title, "time step t", "‖∂h_T/∂h_t‖₂  (log scale)", height=460, legend_above=True)
    log_axis(fig, yr)
    update_xaxes(fig, range=[float(t.min()) - 0.5, T + 0.5])
    return fig


def _gated_jacobian_figure(t, j, T: int, cell: str, path_norm) -> Spec:
    path_name, whole_name = PATH_NAMES[cell]
    state = "s" if cell == "lstm" else "h"
    title = f"How much step t can still move the last state: ‖∂{state}_T/∂{state}_t‖"
    p = None if path_norm is None else positive(path_norm)
    if not np.isfinite(j).any() and (p is None or not np.isfinite(p).any()):
        return empty(title, f"‖∂{state}_T/∂{state}_t‖ is zero or not finite at every step shown.")
    traces = [scatter(x=t, y=j, mode="lines+markers" if t.size <= 150 else "lines", name=whole_name,
                      line=dict(color=GREEN, width=3),
                      hovertemplate="t = %{x}<br>‖∂s_T/∂s_t‖ = %{y:.3e}<extra></extra>")]
    series = [j]
    if p is not None:
        tp = np.arange(1, p.size + 1)
        keep = tp >= t.min()
        traces.append(scatter(x=tp[keep], y=p[keep], mode="lines", name=path_name,
                              line=dict(color=PURPLE, width=3, dash="dash"),
                              hovertemplate="t = %{x}<br>path gain = %{y:.3e}<extra></extra>"))
        series.append(p[keep])
    fig = figure(traces)
    style(fig, title, "time step t", "norm  (log scale)", height=460, legend_above=True)
    log_axis(fig, log_range(*series))
    update_xaxes(fig, range=[float(t.min()) - 0.5, T + 0.5])
    return fig


def jacobian_grid_figure(steps, grid, state: str = "h") -> Spec:
    """Heatmap of log10 ‖∂h_t/∂h_k‖ for t (rows) ≥ k (columns) on a subsampled grid
    (`state` "s" for the LSTM's stacked (h, c))."""
    s = np.asarray(steps, dtype=int) + 1
    title = f"Gradient flow between any two steps: ‖∂{state}_t/∂{state}_k‖"
    with np.errstate(all="ignore"):
        z = np.log10(positive(grid))
    if not np.isfinite(z).any():
        return empty(title, "No finite, non-zero Jacobian norms to show.")
    zmin, zmax = float(np.nanmin(z)), float(np.nanmax(z))
    if zmax - zmin < 1:
        zmin, zmax = zmin - 0.5, zmax + 0.5
    ticks = np.arange(np.ceil(zmin), np.floor(zmax) + 1)
    if ticks.size > 8:
        ticks = ticks[:: int(np.ceil(ticks.size / 8))]
    labels = [power_label(k) for k in ticks]
    fig = figure([heatmap(
        x=s, y=s, z=z.astype(np.float32), colorscale=colorscale(SEQUENTIAL), zmin=zmin, zmax=zmax,
        colorbar=dict(title=dict(text=f"‖∂{state}_t/∂{state}_k‖", side="right"), tickvals=ticks, ticktext=labels),
        hovertemplate=f"t = %{{y}}, k = %{{x}}<br>log10 ‖∂{state}_t/∂{state}_k‖ = %{{z:.2f}}<extra></extra>",
        hoverongaps=False)])
    note = f" ({s.size}×{s.size} grid of steps)"
    style(fig, title + note, "earlier step k", "later step t", height=480)
    update_yaxes(fig, autorange=True)
    return fig


def dW_contribution_figure(step_norms, overflow_step: int | None = None, gated: bool = False) -> Spec:
    """Per-step Frobenius norm of step t's term in ∂L/∂W_hh, log axis.

    Steps whose term is not finite get no bar; when no step has one, the time axis stays and a
    note in the middle of the plot says why (with `overflow_step`, 0-based, the band from there on
    is shaded grey).
    """
    raw = finite(step_norms)
    v = positive(step_norms)
    T = v.size
    t = np.arange(1, T + 1)
    title = "Which steps the weight update listens to: step t's share of ∂L/∂W_hh"
    if not np.isfinite(v).any():
        fig = figure()
        where = "" if overflow_step is None else f" at t = {int(overflow_step) + 1}"
        if T and np.isfinite(raw).all():
            msg = ("No bars: every step's term is exactly 0.<br>The state or the gradient is zero "
                   "everywhere, so W_hh gets no update.")
        else:
            msg = (f"No bars: the numbers overflowed{where}, so the loss is not a number<br>"
                   "and every term of ∂L/∂W_hh is infinite or undefined.<br>"
                   "Lower ρ or T, or pick tanh, to see which steps the update listens to.")
        if overflow_step is not None and T:
            _overflow_band(fig, overflow_step, T)
        style(fig, title, "time step t", "", height=420)
        note_box(fig, msg)
        update_xaxes(fig, range=[0.5, max(T, 1) + 0.5], showgrid=False, zeroline=False)
        update_yaxes(fig, visible=False, range=[0, 1])
        return fig
    fig = figure([bar(x=t, y=v, marker=dict(color=BLUE, line=dict(width=0)),
                      name=("‖step t's term of ∂L/∂W_hh (all gate blocks)‖_F" if gated
                            else "‖(f′(a_t) ⊙ ∂L/∂h_t) h_{t−1}ᵀ‖_F"),
                      hovertemplate="t = %{x}<br>%{y:.3e}<extra></extra>", showlegend=True)])
    style(fig, title, "time step t", "Frobenius norm  (log scale)", height=420, legend_above=True)
    log_axis(fig, log_range(v))
    update_layout(fig, bargap=0.05)
    bad = ~np.isfinite(raw)
    if bad.any():
        first_bad, last_bad = int(np.flatnonzero(bad)[0]) + 1, int(np.flatnonzero(bad)[-1]) + 1
        add_vrect(fig, first_bad - 0.5, last_bad + 0.5, fillcolor=GREY, opacity=0.18, line=dict(width=0),
                  layer="below")
        span = f"t = {first_bad}" if first_bad == last_bad else f"t = {first_bad}–{last_bad}"
        note_box(fig, f"grey: {span} overflowed, no finite term", x=0.01, y=0.98, xanchor="left",
                 yanchor="top", size=FONT_SIZE - 1)
    return fig


def dW_caption(step_norms) -> str:
    """The sentence under the ∂L/∂W_hh chart, matching whether it has bars to read."""
    if not np.isfinite(positive(step_norms)).any():
        return ("∂L/∂W_hh is a sum with one term per step. Here no term is a finite, non-zero number, "
                "so there is nothing to compare; in a network that does not overflow, the bars near "
                "t = T tower over the early ones.")
    return ("∂L/∂W_hh is a sum with one term per step. When the bars near t = T tower over the early "
            "ones, the update is decided by short-range effects; long-range ones are drowned out.")


def decay_readout(grad_norm) -> str:
    """One line comparing the gradient at step 1 with the one at step T."""
    g = finite(grad_norm)
    T = g.size
    first, last = g[0], g[-1]
    if not (np.isfinite(first) and np.isfinite(last)):
        return "Some gradients are not finite (overflow), so the ratio between step 1 and step T is undefined."
    if last == 0:
        return "The gradient at the last step is exactly zero."
    if first == 0:
        return f"No gradient at all reaches step 1 from step T = {T} (it is exactly zero)."
    k = float(np.log10(first) - np.log10(last))  # a difference of logs: the ratio itself may underflow
    if abs(k) < 0.05:
        return f"The gradient reaching step 1 is about as large as the one at step T = {T}."
    word = "smaller" if k < 0 else "larger"
    factor = "more than 10^308×" if abs(k) >= 308 else f"about {10 ** abs(k):.3g}×"  # 10^k itself would overflow
    return f"The gradient reaching step 1 is $10^{{{k:+.1f}}}$ times the one at step T = {T} ({factor} {word})."


def teaser_figure(grad_norm) -> Spec:
    """Small version of the gradient plot for the home page."""
    g = positive(grad_norm)
    T = g.size
    fig = figure([scatter(x=np.arange(1, T + 1), y=g, mode="lines",
                          line=dict(color=BLUE, width=3), name="‖∂L/∂h_t‖")])
    style(fig, "Live: gradient size ‖∂L/∂h_t‖ at each step", "time step t", "‖∂L/∂h_t‖ (log)", height=340)
    log_axis(fig, log_range(g))
    # Powers of ten with superscripts are wider than automargin expects: leave room explicitly.
    update_yaxes(fig, automargin=False, title=dict(standoff=10))
    update_layout(fig, showlegend=False, margin=dict(t=60, b=60, l=110))
    return fig
