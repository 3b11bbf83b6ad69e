"""Closed-loop scenario simulator: road kinematics, brake actuator, camera, and the real chain.

World: a road whose centreline is the ego vehicle's path, straight or a circular arc of radius
``R`` (curvature ``kappa = 1/R``, left positive; the ego's yaw rate is ``v kappa``). Every
object has a road position ``s`` (arc length of its rear-face centre), a lateral offset ``d``
(left positive) and a heading along the road, turned by ``atan(d' / s')`` while it changes
lane. The ego front bumper is at ``s_e``, ``d = 0``. The road may have a vertical profile
(``ScenarioSpec.road_profile``, :mod:`adas.scenarios.road`): objects and the ego stand on it,
pitched by its grade, and a crest hides what lies behind it. With ``footprint_contact``
(issue 19, :mod:`adas.scenarios.motion`) targets may move at any heading, the ego may turn,
and contact is footprint overlap. Time advances in 10 ms steps;
speeds change at the step's mean acceleration (exact for linear ramps) and a stop inside a
step is exact.

Each camera frame (30 fps, integer ns, the world moved on to the frame's exact time) projects
the objects' 3D boxes, cut at a near plane and clipped to the image as a detector sees a
partly visible car, and turns them into detections, either idealised (:class:`SensorModel`:
edge noise, a slow box jitter and dropouts) or as the detector was measured
(:mod:`adas.scenarios.measured_camera`, with a per-trial :class:`TrialWorld`: drawn sizes,
road grade, camera pitch error, ego-speed noise); then it runs the chain (by default
tracker -> distance -> motion -> danger -> control). The decision's deceleration
request drives the brake actuator until the next frame. Without a request the ego holds its
current speed (the test driver keeps the throttle; after a brake release it neither coasts
nor accelerates back), as in the protocols, whose driver never brakes.

Ground truth: the gap is ``s_t - s_e`` for an object overlapping the ego's width laterally;
the true TTC solves ``gap + (v_t - v_e) t + a_t t^2 / 2 = 0`` with the target stopping at zero
speed and the ego holding its speed (the TTC if nobody braked: our own braking does not make
it infinite). Braking pitches the camera nose down by ``pitch_per_decel_deg`` per m/s^2 (1.4
deg at 9.5 m/s^2; Bosch Automotive Handbook: 1-2 deg under hard braking).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from adas.camera import CameraModel
from adas.scenarios.camera_sim import FRAME_NS, CameraSim, SensorModel
from adas.scenarios.kinematics import STEP_NS, BrakeActuator, advance, smoothstep, true_ttc
from adas.scenarios.measured_camera import MeasuredCameraSim, MeasuredSensor
from adas.scenarios.metrics import trial_events
from adas.scenarios.motion import (
    EgoPath,
    Mover,
    contact,
    ego_pose,
    finite_or_none,
    predicted_contact,
)
from adas.scenarios.profile import SpeedProfile
from adas.scenarios.road import RoadProfile, corners_in_ego, hidden_below_rows, road_pose
from adas.scenarios.trial_world import TrialWorld
from adas.types import Decision, Detections, EgoState, ObjectClass, ObjectStates, Tracks

__all__ = [
    "CAR_HWL_M", "SERIES", "STEP_NS", "BrakeActuator", "ChainOutput", "ChainUnderTest",
    "ScenarioSpec", "TargetSpec", "Trial", "advance", "corners_in_ego", "road_pose", "simulate",
    "smoothstep", "true_ttc",
]  # fmt: skip

MAX_COLLIDING_ELEVATION_M = 1.4  # objects whose bottom is higher pass over the ego's bonnet
CAR_HWL_M = (1.53, 1.63, 3.88)  # KITTI car class means (data/priors/object_sizes.toml)
# Per-frame series: time, true gap and TTC, the chain's estimates for the first target, the
# brake request and the actual deceleration, the decision level (DecisionLevel value).
SERIES = ("t", "range", "ttc", "est_range", "est_ttc", "request", "decel", "level")


@dataclass(frozen=True)
class TargetSpec:
    """An object on the road: gap from the ego front bumper to its rear face (along the road),
    lateral offset of its centre (left positive), speed; optional braking and lane change."""

    gap_m: float
    lateral_m: float = 0.0
    speed_mps: float = 0.0
    hwl_m: tuple[float, float, float] = CAR_HWL_M
    elevation_m: float = 0.0  # box bottom above the road (overhead signs)
    class_id: int = int(ObjectClass.CAR)  # what the simulated detector calls it
    brake_at_s: float | None = None
    brake_decel_mps2: float = 0.0
    brake_ramp_s: float = 0.5  # linear rise to the full deceleration
    min_speed_mps: float = 0.0  # braking ends at this speed
    lane_change_at_s: float | None = None
    lane_change_m: float = 0.0  # lateral displacement, left positive (minimum-jerk profile)
    lane_change_s: float = 4.0
    # (time_s, class_id): what the detector calls it from that time on (a class flip)
    class_schedule: tuple[tuple[float, int], ...] = ()
    # (time_s, speed_mps): commanded speed from that time on, reached at speed_change_mps2
    # (adas.scenarios.profile.SpeedProfile); replaces brake_at_s
    speed_schedule: tuple[tuple[float, float], ...] = ()
    speed_change_mps2: float = 1.5
    fixed_size: bool = False  # True: hwl_m is this object's real size (a sign), never drawn
    # Direction of motion and of the box, from the road's direction, left positive (90: crossing
    # from the right, 180: oncoming); not 0 only on a straight road with footprint contact.
    heading_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.speed_schedule and self.brake_at_s is not None:
            msg = "a target has either a speed schedule or a brake_at_s, not both"
            raise ValueError(msg)
        times = [t for t, _ in self.class_schedule]
        if times != sorted(set(times)):
            msg = f"class schedule times {times} must be strictly increasing"
            raise ValueError(msg)

    def class_at(self, t_s: float) -> int:
        """The class the detector reports at time ``t_s`` (the class schedule's last entry at
        or before it, else ``class_id``)."""
        return next((c for t, c in reversed(self.class_schedule) if t <= t_s), self.class_id)


@dataclass(frozen=True)
class ScenarioSpec:
    """Physical set-up of one scenario (the suites add protocol parameters and criteria)."""

    ego_speed_mps: float
    targets: tuple[TargetSpec, ...]
    radius_m: float = math.inf  # road radius, positive = left curve; inf = straight
    duration_s: float = 20.0  # time limit
    expect_threat: bool = True  # False: every warning and every brake is a false reaction
    ego_width_m: float = 1.8
    ego_length_m: float = 4.5
    # Vertical profile: (s_m, grade) breakpoints, grade linear between them (parabolic vertical
    # curves), elevation integrated from s = 0 (adas.scenarios.road.RoadProfile); () = level.
    road_profile: tuple[tuple[float, float], ...] = ()
    # The mechanisms of adas.scenarios.motion (straight road only): contact by footprint overlap
    # with the impact speed along the ego's heading (else the original road-aligned gap test),
    # an ego path that turns, and an ideal camera that hides boxes behind nearer ones (the
    # measured one always does). Off for the scenarios that predate them: results unchanged.
    footprint_contact: bool = False
    ego_path: EgoPath | None = None
    occlusion: bool = False

    def __post_init__(self) -> None:
        free = self.ego_path is not None or any(t.heading_deg for t in self.targets)
        if free and not (self.footprint_contact and math.isinf(self.radius_m)):
            msg = "a turning ego or a heading target needs a straight road and footprint_contact"
            raise ValueError(msg)


@dataclass
class ChainOutput:
    decision: Decision
    tracks: Tracks
    objects: ObjectStates


class ChainUnderTest(Protocol):
    """What the simulator drives: detections and ego state in, decision and states out."""

    def __call__(self, detections: Detections, ego: EgoState) -> ChainOutput: ...


@dataclass
class _Obj:
    """Road state of one target."""

    spec: TargetSpec
    s: float
    v: float
    d: float = 0.0
    d_rate: float = 0.0
    profile: SpeedProfile | None = None  # the spec's speed schedule, if it has one
    heading: float = 0.0  # rad, from the road's direction (adas.scenarios.motion)
    d_travel: float = 0.0  # lateral distance travelled along a heading

    def __post_init__(self) -> None:
        sp = self.spec
        self.heading = math.radians(sp.heading_deg)
        if sp.speed_schedule:
            self.profile = SpeedProfile.from_schedule(
                sp.speed_mps, sp.speed_schedule, sp.speed_change_mps2
            )

    def accel(self, t: float) -> float:
        sp = self.spec
        if self.profile is not None:
            return self.profile.accel(t)
        if sp.brake_at_s is None or t < sp.brake_at_s or self.v <= sp.min_speed_mps:
            return 0.0
        ramp = 1.0 if sp.brake_ramp_s <= 0 else min((t - sp.brake_at_s) / sp.brake_ramp_s, 1.0)
        return -sp.brake_decel_mps2 * ramp

    def set_lateral(self, t: float) -> None:
        sp = self.spec
        self.d, self.d_rate = sp.lateral_m, 0.0
        if sp.lane_change_at_s is not None:
            h, dh = smoothstep((t - sp.lane_change_at_s) / sp.lane_change_s)
            self.d += sp.lane_change_m * h
            self.d_rate = sp.lane_change_m * dh / sp.lane_change_s
        if self.heading:
            self.d += self.d_travel
            self.d_rate += self.v * math.sin(self.heading)

    def move(self, t: float, dt: float) -> None:
        """Advance by one step ``dt`` from ``t`` along the road or, with a heading, along it."""
        s0 = self.s
        if self.profile is not None:  # scheduled speed: exact, piecewise linear
            self.s, self.v = self.s + self.profile.distance(t, t + dt), self.profile.speed(t + dt)
        else:
            self.s, v1 = advance(self.s, self.v, 0.5 * (self.accel(t) + self.accel(t + dt)), dt)
            low = self.spec.min_speed_mps
            self.v = max(v1, low) if self.v > low else v1
        if self.heading:
            dist = self.s - s0
            self.s = s0 + dist * math.cos(self.heading)
            self.d_travel += dist * math.sin(self.heading)


@dataclass
class Trial:
    """Raw outcome of one trial (the suites judge it) and its per-frame time series."""

    metrics: dict[str, Any]
    series: dict[str, list[float]] = field(default_factory=dict)


def simulate(
    spec: ScenarioSpec,
    chain: ChainUnderTest,
    camera: CameraModel,
    rng: np.random.Generator,
    sensor: SensorModel | MeasuredSensor | None = None,
    actuator: BrakeActuator | None = None,
    world: TrialWorld | None = None,
) -> Trial:
    """Run one trial in closed loop until collision, standstill, the threat gone, or the limit.

    ``sensor``: the idealised :class:`SensorModel` (default) or the measured detector;
    ``world``: the trial's drawn road profile (replacing ``spec.road_profile``), camera pitch
    error and ego-speed sensor (None: the spec's road, exact pitch and speed).
    Metrics: collision, relative impact speed, the end reason, and the warning and brake
    events of :func:`adas.scenarios.metrics.trial_events`; the series has one row per frame.
    """
    act = actuator or BrakeActuator()
    sensor = sensor or SensorModel()
    dt = STEP_NS * 1e-9
    kappa = 0.0 if math.isinf(spec.radius_m) else 1.0 / spec.radius_m
    objs = [_Obj(t, t.gap_m, t.speed_mps) for t in spec.targets]
    cams: CameraSim | MeasuredCameraSim = (
        MeasuredCameraSim(camera, sensor, rng)
        if isinstance(sensor, MeasuredSensor)
        else CameraSim(camera, sensor, rng, occlusion=spec.occlusion)
    )
    road = world.road if world is not None else RoadProfile(spec.road_profile)
    pitch0, k_pitch = camera.mount.pitch_rad, math.radians(sensor.pitch_per_decel_deg)
    if world is not None:
        pitch0 += world.pitch_error_rad
    s_e, v_e, decel, request = 0.0, spec.ego_speed_mps, 0.0, 0.0
    half_ego = 0.5 * spec.ego_width_m
    track_obj: dict[int, int] = {}
    series: dict[str, list[float]] = {k: [] for k in SERIES}
    braked = collided = False
    impact, ego_impact, end = 0.0, 0.0, "time limit"
    min_gap, max_decel, frame = math.inf, 0.0, 0
    path, foot, first_seen = spec.ego_path, spec.footprint_contact, None
    lw = (spec.ego_length_m, spec.ego_width_m)
    colliding = [o.elevation_m < MAX_COLLIDING_ELEVATION_M for o in spec.targets]
    movers: list[Mover] = list(objs)

    def threat(o: _Obj) -> bool:
        overlap = abs(o.d) < half_ego + 0.5 * o.spec.hwl_m[1]
        return overlap and o.spec.elevation_m < MAX_COLLIDING_ELEVATION_M

    def gap_ttc(tau: float) -> tuple[float, float]:
        """Gap to the first target and the smallest true TTC, ``tau`` s after the step (with
        footprint contact: the clearance and the predicted contact time from the step's start,
        less ``tau``)."""
        if foot:
            ttc_f = predicted_contact(movers, t, s_e, v_e, path, lw, colliding)
            pose = ego_pose(path, s_e)
            return contact(movers, t, pose, v_e, lw, colliding)[2], max(ttc_f - tau, 0.0)
        ttcs = [
            true_ttc(o.s + o.v * tau - s_e - v_e * tau, v_e, o.v, o.accel(t))
            for o in objs if threat(o)
        ]  # fmt: skip
        g = objs[0].s + objs[0].v * tau - s_e - v_e * tau if objs else math.nan
        return g, min(ttcs, default=math.inf)

    for k in range(math.ceil(spec.duration_s / dt)):
        t_ns = k * STEP_NS
        t = t_ns * 1e-9
        for o in objs:
            o.set_lateral(t)
        while frame * FRAME_NS < t_ns + STEP_NS:  # camera frames inside this step
            tf = frame * FRAME_NS
            tau = (tf - t_ns) * 1e-9
            v_told = v_e if world is None else world.speed.measure(v_e)
            curv = kappa if path is None else path.curvature(s_e)
            ego = EgoState(t_ns=tf, speed_mps=v_told, yaw_rate_rps=v_e * curv, accel_mps2=-decel)
            if objs:
                s_now, pitch = s_e + v_e * tau, pitch0 + k_pitch * decel
                pose = None if path is None else ego_pose(path, s_now)
                if pose is not None:  # on the profile: the station under the ego (approx.)
                    s_now = pose[0]
                corners = corners_in_ego(
                    objs, s_now, kappa, tau, road, spec.ego_length_m, ego_pose=pose
                )
                classes = [o.spec.class_at(tf * 1e-9) for o in objs]
                rows = None
                if not road.flat:
                    s_obj = [o.s + o.v * math.cos(o.heading) * tau for o in objs]
                    rows = hidden_below_rows(
                        camera, pitch, road, s_now, s_obj, kappa, spec.ego_length_m
                    )
                dets, obj_of = cams.detect(corners, classes, pitch, rows)
                if first_seen is None and cams.visible[0]:
                    first_seen = frame
            else:
                dets, obj_of = Detections.empty(), []
            out = chain(dets, ego)
            request = max(float(out.decision.decel_request_mps2), 0.0)
            level = out.decision.level
            for tid, di in zip(out.tracks.track_id, out.tracks.det_index, strict=True):
                if di >= 0:
                    track_obj[int(tid)] = obj_of[int(di)]
            gap, ttc = gap_ttc(tau)
            est_d = est_ttc = math.nan
            for row, tid in enumerate(out.objects.track_id):
                if track_obj.get(int(tid)) == 0:
                    est_d, est_ttc = out.objects.distance_m[row], out.objects.ttc_s[row]
                    break
            braked = braked or request > 0.0
            values = (tf * 1e-9, gap, ttc, est_d, est_ttc, request, decel, float(level))
            for key, val in zip(SERIES, values, strict=True):
                series[key].append(float(val))
            frame += 1

        # Vehicles move: the ego at the actuator's mean deceleration over the step.
        d0, decel = decel, act.step(request)
        max_decel = max(max_decel, decel)
        v_e0, s_e0 = v_e, s_e
        s_e, v_e = advance(s_e, v_e, -0.5 * (d0 + decel), dt)
        for o in objs:
            gap0, closing0 = o.s - s_e0, v_e0 - o.v
            o.move(t, dt)
            gap1 = o.s - s_e
            if foot:
                continue
            if threat(o):
                min_gap = min(min_gap, gap1)
                if gap0 > 0.0 >= gap1:  # contact inside this step: interpolate its speeds
                    f = gap0 / (gap0 - gap1)
                    impact = closing0 + f * ((v_e - o.v) - closing0)
                    ego_impact = v_e0 + f * (v_e - v_e0)
                    collided = True
        if foot:
            pose = ego_pose(path, s_e)
            hit, speed, clear = contact(movers, t + dt, pose, v_e, lw, colliding)
            min_gap = min(min_gap, clear) if objs else min_gap
            if hit >= 0:
                collided, impact, ego_impact = True, speed, v_e
        if collided:
            end = "collision"
            break
        if v_e <= 0.0:
            end = "ego stopped"
            break
        # Passed: behind the ego and not faster (a car overtaking from behind is still to come).
        x_e = s_e if path is None else float(path.pose(s_e)[0])
        passed = all(
            o.s + o.spec.hwl_m[2] < x_e - spec.ego_length_m and o.v * math.cos(o.heading) <= v_e
            for o in objs
        )
        if objs and passed:
            end = "targets passed"
            break
        if foot:
            resolved = braked and request == 0.0 and math.isinf(series["ttc"][-1])
        else:
            resolved = all(v_e <= o.v and o.accel(t + dt) >= 0.0 for o in objs if threat(o))
        if spec.expect_threat and braked and resolved:
            end = "threat resolved"
            break

    metrics = trial_events(series, expect_threat=spec.expect_threat)
    metrics |= {
        "collided": collided,
        "impact_speed_kmh": 3.6 * impact,
        "ego_impact_speed_kmh": 3.6 * ego_impact,
        "min_gap_m": min_gap if math.isfinite(min_gap) else None,
        "max_decel_mps2": max_decel,
        "final_ego_speed_kmh": 3.6 * v_e,
        "end": end,
        "duration_s": (k + 1) * dt,
        "frames": frame,
    }
    i = first_seen  # the field of view: when the target was first on the image, not hidden
    metrics["first_visible_time_s"] = None if i is None else series["t"][i]
    metrics["first_visible_ttc_s"] = None if i is None else finite_or_none(series["ttc"][i])
    return Trial(metrics, series)
