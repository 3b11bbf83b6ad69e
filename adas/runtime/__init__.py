"""The in-vehicle runtime (``adas run``): camera in, pipeline, CAN commands out, in real time.

Two layers, as everywhere in this project (docs/architecture.md: stages are pure, I/O loops
feed them):

* :class:`adas.runtime.core.RuntimeCore` decides. It is fed frames and clock ticks and sends
  one command per cycle through an output (:class:`adas.can.output.CanOutput` in the car). It
  reads time only from the clock it is given, so tests and the soak test run it on a simulated
  clock, minutes of driving in seconds.
* :class:`adas.runtime.shell.Runtime` is the real-time shell: a camera thread
  (:mod:`adas.sources.camera`) puts frames into a :class:`adas.sources.latest.LatestSlot`, the
  main loop takes the newest one, ego state comes from CAN, a bag or fixed values, a status
  line goes to the log, the ``ADAS_Status`` heartbeat goes out at ``[can] status_rate_hz``,
  SIGTERM/SIGINT end it cleanly.
* :class:`adas.runtime.config.RuntimeConfig` is the ``[runtime]`` section; it imports nothing
  of the stages, sources or sinks, so :mod:`adas.config` can read it.

Safety behaviour (docs/architecture.md, issue 7):

* **Latest frame only**: a frame that arrives while the pipeline is busy replaces the waiting
  one (``dropped_busy``); a frame older than ``max_frame_age_s`` when its turn comes is
  dropped (``dropped_stale``). Nothing is ever queued behind a slow stage.
* **Watchdog**: no processed frame for ``watchdog_period_s``, a frame whose decision comes
  later than ``frame_deadline_s`` after its capture, a corrupt frame, an inference error or
  an invalid ego state each make the cycle's command ``UNAVAILABLE`` with zero brake request.
  The main loop ticks at least twice per watchdog period, so a stall is reported within one
  period. The control state machine stands down at the same time (persistence starts again),
  and the system recovers by itself with the next healthy frames.
* **A command every cycle**: each processed frame and, while stalled, each tick sends a
  command, also when there is nothing to report (level NONE).
* Faults never end the process: CAN send errors are counted (state DEGRADED), camera
  read failures reconnect with back-off.
"""
