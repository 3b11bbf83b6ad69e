"""Numba kernels of the distance stage (see :mod:`adas.distance` for the model).

The stage ranges ~32 boxes per frame inside a 0.5 ms chain budget; as numpy the geometry and
the per-track fusion were ~50 small array calls (440 us per frame on the 2-core reference
machine), as loops compiled by numba they are a few microseconds. Written for this project.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from adas.types import FloatArray

# Columns of the cue table written by ``range_cues``. GROUND_Y: the level row of the ranging
# point (before the road's cross slope); GROUND_H: the camera's height above the object's
# contact (the mount height less the class's ground offset), GROUND_HS its spread [m].
SIZE_D, SIZE_S, GROUND_D, GROUND_S, LAT_A, LAT_B, LEVEL_H, GROUND_Y, SIZE_P = range(9)
GROUND_H, GROUND_HS = 9, 10
N_CUES = 11


@numba.njit(cache=True)
def pixel_points(xyxy: FloatArray, wide_aspect: FloatArray, cx: float, out: FloatArray) -> None:
    """Four edge midpoints (top, bottom, left, right) and the ranging point of each box
    (out: N*5 x 2 pixels). Midpoints, not corners: under camera roll the bounding box of the
    levelled corners would grow by the other side's extent times sin(roll).

    The ranging point is the bottom centre of a narrow box and, for a box wider than
    ``wide_aspect`` (object seen from the side or at an angle), the bottom point nearest the
    ego path: the image column straight ahead, clamped into the box.
    """
    for i in range(xyxy.shape[0]):
        x1, y1, x2, y2 = xyxy[i, 0], xyxy[i, 1], xyxy[i, 2], xyxy[i, 3]
        k = 5 * i
        u = 0.5 * (x1 + x2)
        v = 0.5 * (y1 + y2)
        out[k, 0], out[k, 1] = u, y1
        out[k + 1, 0], out[k + 1, 1] = u, y2
        out[k + 2, 0], out[k + 2, 1] = x1, v
        out[k + 3, 0], out[k + 3, 1] = x2, v
        if (x2 - x1) > wide_aspect[i] * max(y2 - y1, 1e-6):
            u = min(max(cx, x1), x2)
        out[k + 4, 0], out[k + 4, 1] = u, y2


@numba.njit(cache=True)
def range_cues(
    norm: FloatArray,  # N*5 x 2 undistorted normalised points from pixel_points
    rot: FloatArray,  # 3 x 3 camera -> level rotation
    roll_sin: float,  # |sin(roll)| of the mount
    prior: FloatArray,  # N x 9: H, sH, W, sW, L, sL, width_cue, ground offset, its sigma
    cut: npt.NDArray[np.bool_],  # N x 5: bottom, top cut; no width cue; left, right cut
    cam_height: float,
    edge: FloatArray,  # N: box edge noise per row, normalised units (px / f)
    road_sigma: float,
    grade_sigma: float,
    plane: FloatArray,  # 4: cross slope s, then the covariance of (pitch, s): c00, c01, c11
    width_gate: float,
    out: FloatArray,  # N x N_CUES
) -> None:
    """The cue table of each box (module docstring of :mod:`adas.distance`). The ground cue
    meets the road plane ``Y = h + s X`` (:mod:`adas.distance_ground`)."""
    n = prior.shape[0]
    slope = plane[0]
    lv = np.empty((5, 2))
    for i in range(n):
        # Level the five points: rotate the rays so the horizon is y = 0.
        ok = True
        for j in range(5):
            x, y = norm[5 * i + j, 0], norm[5 * i + j, 1]
            rx = rot[0, 0] * x + rot[0, 1] * y + rot[0, 2]
            ry = rot[1, 0] * x + rot[1, 1] * y + rot[1, 2]
            rz = rot[2, 0] * x + rot[2, 1] * y + rot[2, 2]
            if not rz > 1e-9:
                ok = False
                break
            lv[j, 0], lv[j, 1] = rx / rz, ry / rz
        out[i, :] = math.nan
        if not ok:
            continue
        x1, x2, y1, y2 = lv[2, 0], lv[3, 0], lv[0, 1], lv[1, 1]
        if roll_sin > 0.0:
            # The axis-aligned box around a rolled object spans h cos + w |sin| by
            # w cos + h |sin|: solve for the object's own extents, about the box centre.
            c = math.sqrt(1.0 - roll_sin * roll_sin)
            det = c * c - roll_sin * roll_sin
            bw0, bh0 = x2 - x1, y2 - y1
            bw1 = (bw0 * c - bh0 * roll_sin) / det
            bh1 = (bh0 * c - bw0 * roll_sin) / det
            xc, yc = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
            x1, x2 = xc - 0.5 * bw1, xc + 0.5 * bw1
            y1, y2 = yc - 0.5 * bh1, yc + 0.5 * bh1
            lv[4, 1] -= 0.5 * (bh0 - bh1)
        hgt, s_h, wid, s_w = prior[i, 0], prior[i, 1], prior[i, 2], prior[i, 3]
        lng, s_l = prior[i, 4], prior[i, 5]
        bh, bw = y2 - y1, x2 - x1
        out[i, LEVEL_H] = bh
        out[i, GROUND_Y] = lv[4, 1]
        # Height cue: needs top and bottom; the roof's far edge is L behind the near face.
        w_h = 0.0
        d_h = 0.0
        vp_h = 0.0  # the size prior's part of the cue's variance (the rest is pixels)
        if not (cut[i, 0] or cut[i, 1]) and hgt == hgt and bh > 0.0:
            off = max(0.0, y1)
            d_h = (hgt + off * lng) / bh
            vp_h = (s_h**2 + (off * s_l) ** 2) / bh**2
            w_h = 1.0 / (vp_h + 2.0 * (d_h * edge[i] / bh) ** 2)
        # Width cue: rigid vehicles parallel to the lane, not cut at a side, consistent with
        # the height cue (crossing traffic breaks the parallel model).
        w_w = 0.0
        d_w = 0.0
        vp_w = 0.0
        if not cut[i, 2] and prior[i, 6] > 0.5 and wid == wid and bw > 0.0:
            off = max(0.0, max(x1, -x2))
            d_w = (wid + off * lng) / bw
            vp_w = (s_w**2 + (off * s_l) ** 2) / bw**2
            var = vp_w + 2.0 * (d_w * edge[i] / bw) ** 2
            if not (w_h > 0.0 and abs(d_w - d_h) > width_gate * math.sqrt(var + 1.0 / w_h)):
                w_w = 1.0 / var
        w_s = w_h + w_w
        if w_s > 0.0:
            out[i, SIZE_D] = (w_h * d_h + w_w * d_w) / w_s
            out[i, SIZE_S] = 1.0 / math.sqrt(w_s)
            out[i, SIZE_P] = math.sqrt(w_h * w_h * vp_h + w_w * w_w * vp_w) / w_s
        # Ground cue: the ray through the ranging point meets the road plane. Its relative
        # error: a road height offset, plus pixel, plane (pitch and slope) and grade errors
        # growing with range.
        # Lateral centre = a * depth + b under the parallel-heading model: the outer edge of
        # the box is the object's near corner. A box cut by a side border has no outer edge:
        # its inner edge is the far corner of its side facing us, ``L`` deeper than its near
        # face (a truck we overtake, cut by the right border, was placed 1 m into our lane
        # from the border's column).
        # (When the box spans the optical axis that edge is its near face's corner instead.)
        length = prior[i, 4]
        if cut[i, 4] and not cut[i, 3] and wid == wid and length == length:
            out[i, LAT_A], out[i, LAT_B] = x1, max(x1, 0.0) * length + 0.5 * wid
        elif cut[i, 3] and not cut[i, 4] and wid == wid and length == length:
            out[i, LAT_A], out[i, LAT_B] = x2, min(x2, 0.0) * length - 0.5 * wid
        elif x1 > 0.0 and wid == wid:
            out[i, LAT_A], out[i, LAT_B] = x2, -0.5 * wid
        elif x2 < 0.0 and wid == wid:
            out[i, LAT_A], out[i, LAT_B] = x1, 0.5 * wid
        else:
            out[i, LAT_A], out[i, LAT_B] = 0.5 * (x1 + x2), 0.0
        # The class's contact may sit above the road plane (a pedestrian on a pavement).
        hg = cam_height - prior[i, 7]
        out[i, GROUND_H] = hg
        out[i, GROUND_HS] = prior[i, 8]
        # The bottom row is the near face's, whose lateral centre is X = a d + b (above): on
        # the plane Y = h + s X it meets the road where y d = h + s (a d + b).
        la, lb = out[i, LAT_A], out[i, LAT_B]
        yg = lv[4, 1] - slope * la
        if not cut[i, 0] and yg > 0.0 and hg + slope * lb > 0.0:
            d_g = (hg + slope * lb) / yg
            xg = la + lb / d_g
            plane_var = max(0.0, plane[1] - 2.0 * xg * plane[2] + xg * xg * plane[3])
            rel2 = (road_sigma**2 + prior[i, 8] ** 2) / hg**2 + (d_g / hg) ** 2 * (
                edge[i] ** 2 + plane_var + grade_sigma**2
            )
            out[i, GROUND_D] = d_g
            out[i, GROUND_S] = d_g * math.sqrt(rel2)


# Columns of the class-mixture table written by ``mix_hypotheses``.
MIX_MEAN, MIX_PVAR, MIX_LO, MIX_HI, MIX_MAP = range(5)
N_MIX = 5


@numba.njit(cache=True)
def mix_hypotheses(
    cues: FloatArray,  # G x N x N_CUES: the cue table under each class hypothesis
    log_prob: FloatArray,  # N x G: log P(true class | detected class); -inf = not a hypothesis
    use_ground: bool,
    out: FloatArray,  # N x N_MIX
) -> None:
    """Size of each box as a mixture over the classes it may really be.

    Sizes are log offsets of each hypothesis's size range from the reference class's (column
    0): ``o_j = log(d_j / d_0)``. Each hypothesis is weighted by its prior probability and, with
    ``use_ground``, by the likelihood of the class-independent ground-contact range under it
    (log-normal, both cues' spreads). Writes the weighted mean offset, its variance without the
    pixel noise (each hypothesis's size-prior spread plus the spread between hypotheses: the
    spread of the object's true size, a new track's start), the smallest and largest offset
    of the hypotheses and the most probable hypothesis's column. NaN (and column 0) where the
    reference class has no size cue.
    """
    g_n = cues.shape[0]
    lw = np.empty(g_n)
    for i in range(cues.shape[1]):
        d0 = cues[0, i, SIZE_D]
        out[i, :] = math.nan
        out[i, MIX_MAP] = 0.0
        if math.isnan(d0):
            continue
        d_g, s_g = cues[0, i, GROUND_D], cues[0, i, GROUND_S]
        have_g = use_ground and d_g == d_g
        best = -math.inf
        lo, hi = math.inf, -math.inf
        for j in range(g_n):
            d_j = cues[j, i, SIZE_D]
            lw[j] = -math.inf
            if log_prob[i, j] == -math.inf or math.isnan(d_j):
                continue
            o_j = math.log(d_j / d0)
            lo, hi = min(lo, o_j), max(hi, o_j)
            lw[j] = log_prob[i, j]
            if have_g:
                v = (cues[j, i, SIZE_S] / d_j) ** 2 + (s_g / d_g) ** 2
                z = math.log(d_g / d_j)
                lw[j] += -0.5 * z * z / v - 0.5 * math.log(v)
            if lw[j] > best:
                best = lw[j]
                out[i, MIX_MAP] = j
        tot = 0.0
        m = 0.0
        for j in range(g_n):
            if lw[j] > -math.inf:
                w = math.exp(lw[j] - best)
                tot += w
                m += w * math.log(cues[j, i, SIZE_D] / d0)
        m /= tot
        vp = 0.0
        for j in range(g_n):
            if lw[j] > -math.inf:
                d_j = cues[j, i, SIZE_D]
                w = math.exp(lw[j] - best)
                vp += w * ((cues[j, i, SIZE_P] / d_j) ** 2 + (math.log(d_j / d0) - m) ** 2)
        out[i, MIX_MEAN], out[i, MIX_PVAR] = m, vp / tot
        out[i, MIX_LO], out[i, MIX_HI] = lo, hi


@numba.njit(cache=True)
def fuse_with_track_size(
    cues: FloatArray,  # N x N_CUES under the reference class
    mix: FloatArray,  # N x N_MIX from mix_hypotheses (with the ground cue)
    slots: npt.NDArray[np.int64],
    learn: npt.NDArray[np.bool_],
    scale: FloatArray,
    scale_var: FloatArray,
    last_ns: npt.NDArray[np.int64],
    bounds: FloatArray,  # slots x 2: smallest and largest size offset the track's labels allowed
    t_ns: int,
    edge: FloatArray,
    drift2: float,
    inflation: float,
    limit: float,
    out: FloatArray,  # N x 3: depth, sigma, method (RangeMethod)
) -> None:
    """Inverse-variance fusion of the size cue (the reference class's, scaled by the track's
    learned size) and the ground cue, then a scalar Kalman update of the track's log size.

    A track's size is a log offset from the reference class's size cue, so it stays the same
    in metres whatever the box is called from frame to frame. A new track starts at the class
    mixture of its first box (the prior of the class it is called, sharpened by how well each
    possible class agrees with the ground contact). The learned size stays within ``limit``
    (log) of the smallest and largest size that the classes of any label the track has had
    allow: a truck called car for a while keeps the truck size it learned (a bound from this
    frame's label alone would pull it to the car's and move the range by the ratio)."""
    for i in range(cues.shape[0]):
        s = slots[i]
        d_s, d_g, s_g = cues[i, SIZE_D], cues[i, GROUND_D], cues[i, GROUND_S]
        lh = cues[i, LEVEL_H]
        pix2 = 2.0 * (edge[i] / lh) ** 2 if lh > 0.0 else 0.0
        dt = max(0.0, (t_ns - last_ns[s]) * 1e-9)
        last_ns[s] = t_ns
        have_s, have_g = d_s == d_s, d_g == d_g
        if have_s:
            bounds[s, 0] = min(bounds[s, 0], mix[i, MIX_LO])
            bounds[s, 1] = max(bounds[s, 1], mix[i, MIX_HI])
        if scale_var[s] < 0.0:  # new track: the class mixture as seen in this box
            if have_s:
                scale[s] = mix[i, MIX_MEAN]
                scale_var[s] = max(mix[i, MIX_PVAR], 1e-6)
            else:
                scale[s], scale_var[s] = 0.0, 0.01
        p = scale_var[s] + drift2 * dt
        w = 0.0
        acc = 0.0
        if have_s:
            ds_c = d_s * math.exp(scale[s])
            w_s = 1.0 / (ds_c * ds_c * (p + pix2))
            w += w_s
            acc += w_s * ds_c
        if have_g:
            w_g = 1.0 / (s_g * s_g)
            w += w_g
            acc += w_g * d_g
        if w > 0.0:
            out[i, 0] = acc / w
            out[i, 1] = 1.0 / math.sqrt(w)
            out[i, 2] = 3.0 if (have_s and have_g) else (2.0 if have_s else 1.0)
        else:
            out[i, 0], out[i, 1], out[i, 2] = math.nan, math.nan, 0.0
        # Learn after use, so this frame's ground cue is not counted twice.
        if learn[i] and have_s and have_g:
            z = math.log(d_g / d_s)
            r = ((s_g / d_g) ** 2 + pix2) * inflation
            k = p / (p + r)
            lo, hi = bounds[s, 0] - limit, bounds[s, 1] + limit
            scale[s] = min(max(scale[s] + k * (z - scale[s]), lo), hi)
            p = (1.0 - k) * p
        scale_var[s] = p


@numba.njit(cache=True)
def box_status(
    xyxy: FloatArray, width: int, height: int, min_px: float, out: npt.NDArray[np.int64]
) -> None:
    """RangeStatus of each raw box: NON_FINITE 1, DEGENERATE 2, TOO_SMALL 3, OFF_IMAGE 4."""
    for i in range(xyxy.shape[0]):
        x1, y1, x2, y2 = xyxy[i, 0], xyxy[i, 1], xyxy[i, 2], xyxy[i, 3]
        if not (
            math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)
        ):
            out[i] = 1
        elif x2 <= x1 or y2 <= y1:
            out[i] = 2
        elif x2 < 0.0 or y2 < 0.0 or x1 > width - 1 or y1 > height - 1:
            out[i] = 4
        elif x2 - x1 < min_px or y2 - y1 < min_px:
            out[i] = 3
        else:
            out[i] = 0
