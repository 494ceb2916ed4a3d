"""Recorded jtop data structures, and `RecordedJtop`: a stand-in for a started `jtop.jtop`.

jtop needs the root jtop.service and a Jetson, so the adapter is tested against these values.
They are NOT a dump from a live board. Their shape is transcribed from jetson-stats 4.3.1
(github.com/rbonghi/jetson_stats, tag 4.3.1; unchanged in the public properties through 7.2):

- `jtop/jtop.py`: the docstring tables of the properties `cpu`, `memory`, `gpu`, `fan`,
  `temperature`, `power`, `nvpmodel`, `jetson_clocks`, and how `stats` reads them
  (100 - idle per online core, RAM/SWAP `used`/`tot`, `power['tot']['power']`);
- `jtop/core/cpu.py` CPUService.get_status: {"total": …, "cpu": [per core]}, offline cores
  carry no user/nice/system/idle;
- `jtop/core/memory.py` MemoryService.get_status: RAM/SWAP in kB, `shared` = NvMapMemUsed;
- `jtop/core/gpu.py` GPUService.get_status, igpu_read_status/igpu_read_freq: load in %,
  frequencies in kHz; 7.x `nvml_read_gpu_status` (Thor): MHz, bytes, W, `power_control` "nvml";
- `jtop/core/temperature.py`: {"temp": °C, "online": bool}, -256 when offline; zone names are
  the thermal zone type up to "-" or "_" (CPU-therm → CPU, Tboard_tegra → Tboard);
- `jtop/core/power.py` PowerService.get_status/total_power: {"rail": {name: {volt mV, curr mA,
  power mW, avg mW, online, warn, crit}}, "tot": {...}}; the total is VDD_IN or POM_5V_IN
  where present, else the sum of the rails (AGX Orin, issue #344);
- `jtop/core/fan.py` FanService.get_status and nvfancontrol_query: {name: {"speed": [%],
  "rpm": [..], "profile", "governor", "control"}};
- `jtop/core/nvpmodel.py` NVPModel (`name`, `id`, `models`) and `jtop/core/jetson_clocks.py`
  JetsonClocks (truthy when enabled).

Values are those of an AGX Orin 32GB dev kit on JetPack 5.1.2 in its 30W nvpmodel: rail names
as tegrastats prints them there (VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0, VDDQ_VDD2_1V8AO),
thermal zones CPU/GPU/CV0-2/SOC0-2/Tj/Tboard/Tdiode, four of twelve cores offline in 30W.
"""

from __future__ import annotations

from typing import Any


def _core(idle: float, user: float, system: float) -> dict[str, Any]:
    return {
        "online": True,
        "governor": "schedutil",
        "freq": {"min": 115200, "max": 2188800, "cur": 1497600},
        "info_freq": {"min": 115200, "max": 2201600, "cur": 1497600},
        "idle_state": {"WFI": 1, "c7": 1},
        "user": user,
        "nice": 0.0,
        "system": system,
        "idle": idle,
        "model": "ARMv8 Processor rev 1 (v8l)",
    }


_OFFLINE_CORE = {"online": False, "model": "ARMv8 Processor rev 1 (v8l)"}

ORIN_CPU: dict[str, Any] = {
    "total": {"user": 11.9, "nice": 0.0, "system": 3.1, "idle": 85.0},
    "cpu": [
        _core(72.0, 22.0, 6.0),
        _core(90.5, 7.5, 2.0),
        _core(85.0, 11.0, 4.0),
        _core(94.0, 4.0, 2.0),
        _core(80.0, 16.0, 4.0),
        _core(88.0, 9.0, 3.0),
        _core(91.0, 7.0, 2.0),
        _core(79.5, 17.0, 3.5),
        *[dict(_OFFLINE_CORE) for _ in range(4)],
    ],
}

ORIN_MEMORY: dict[str, Any] = {
    "RAM": {
        "tot": 31002768,
        "used": 5834120,
        "free": 22189932,
        "buffers": 110456,
        "cached": 2868260,
        "shared": 412664,
        "lfb": 1623,
    },
    "SWAP": {
        "tot": 12 * 1291781,
        "used": 0,
        "cached": 0,
        "table": {  # nvzramconfig: one zram device per core, together half the RAM
            f"/dev/zram{i}": dict(type="partition", prio=5, size=1291781, used=0, boot=False)
            for i in range(12)
        },
    },
    "EMC": {
        "cur": 3199000,
        "max": 3199000,
        "min": 204000,
        "override": 0,
        "val": 14,
        "online": True,
    },
}

ORIN_GPU: dict[str, Any] = {
    "gpu": {
        "type": "integrated",
        "status": {"railgate": False, "tpc_pg_mask": False, "3d_scaling": True, "load": 46.3},
        "freq": {
            "governor": "nvhost_podgov",
            "cur": 624750,
            "max": 1300500,
            "min": 306000,
            "GPC": [624750, 624750],
        },
        "power_control": "auto",
    }
}

ORIN_FAN: dict[str, Any] = {
    "pwmfan": {
        "speed": [31.372549019607842],
        "rpm": [1519],
        "profile": "quiet",
        "governor": "pid",
        "control": "close_loop",
    }
}

ORIN_TEMPERATURE: dict[str, Any] = {
    "CPU": {"temp": 52.156, "online": True},
    "CV0": {"temp": -256.0, "online": False},
    "CV1": {"temp": -256.0, "online": False},
    "CV2": {"temp": -256.0, "online": False},
    "GPU": {"temp": 49.593, "online": True},
    "SOC0": {"temp": 50.062, "online": True},
    "SOC1": {"temp": 48.937, "online": True},
    "SOC2": {"temp": 47.906, "online": True},
    "Tboard": {"temp": 41.0, "online": True},
    "Tdiode": {"temp": 44.75, "online": True},
    "Tj": {"temp": 52.156, "online": True},
}


def _rail(volt: int, curr: int) -> dict[str, Any]:
    power = int(volt * (curr / 1000))
    return {
        "volt": volt,
        "curr": curr,
        "warn": 32760,
        "crit": 32760,
        "power": power,
        "online": True,
        "avg": power,
    }


ORIN_RAILS = {
    "VDD_CPU_CV": _rail(19008, 42),
    "VDD_GPU_SOC": _rail(19008, 168),
    "VDDQ_VDD2_1V8AO": _rail(4984, 80),
    "VIN_SYS_5V0": _rail(5000, 725),
}
ORIN_POWER: dict[str, Any] = {
    "rail": ORIN_RAILS,
    "tot": {  # AGX Orin has no VDD_IN: the sum of the rails
        "power": sum(r["power"] for r in ORIN_RAILS.values()),
        "avg": sum(r["avg"] for r in ORIN_RAILS.values()),
    },
}

ORIN_NVPMODELS = ("MAXN", "15W", "30W", "50W")

# jetson-stats 7.x on Thor reads the GPU through NVML (`nvml_read_gpu_status`).
THOR_GPU: dict[str, Any] = {
    "Thor": {
        "type": "integrated",
        "status": {
            "load": 37.0,
            "3d_scaling": None,
            "railgate": None,
            "tpc_pg_mask": None,
            "memory_used": 6_442_450_944,
            "memory_total": 130_996_502_528,
            "temperature": 48,
            "power_draw": 21.5,
        },
        "freq": {"governor": "nvml", "cur": 1575, "max": 1575, "min": 0},
        "power_control": "nvml",
    }
}


class RecordedNVPModel:
    """Reads like jtop's NVPModel: `name`, `id`, `models`; str() is the name."""

    def __init__(self, name: str, models: tuple[str, ...]) -> None:
        self.name, self.models, self.id = name, list(models), models.index(name)

    def __str__(self) -> str:
        return self.name


class RecordedJetsonClocks:
    """Reads like jtop's JetsonClocks: truthy when enabled."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self.status = "running" if enabled else "inactive"
        self.boot = False

    def __bool__(self) -> bool:
        return self._enabled


class RecordedJtop:
    """A stand-in for a started `jtop.jtop` serving the recorded values above; `lose_connection`
    makes `ok()` raise the way jtop re-raises its reader thread's error."""

    def __init__(
        self,
        *,
        nvpmodel: str | None = "30W",
        jetson_clocks: bool | None = False,
        gpu: dict[str, Any] | None = None,
        temperature: dict[str, Any] | None = None,
    ) -> None:
        self.cpu = ORIN_CPU
        self.memory = ORIN_MEMORY
        self.gpu = ORIN_GPU if gpu is None else gpu
        self.fan = ORIN_FAN
        self.temperature = ORIN_TEMPERATURE if temperature is None else temperature
        self.power = ORIN_POWER
        self.nvpmodel = None if nvpmodel is None else RecordedNVPModel(nvpmodel, ORIN_NVPMODELS)
        self.jetson_clocks = None if jetson_clocks is None else RecordedJetsonClocks(jetson_clocks)
        self.closed = False
        self.error: Exception | None = None

    def ok(self, spin: bool = False) -> bool:
        if self.error is not None:
            raise self.error
        return not self.closed

    def close(self) -> None:
        self.closed = True
