"""Pure parts of container telemetry: Docker stats to a sample, samples to Edgegap series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from entrypoints.agent.containers import stats_sample
from entrypoints.http.edgegap_telemetry import series

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_docker_stats_become_a_sample() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000,
                      "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 4096},
        "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}, "eth1": {"rx_bytes": 1}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"op": "Read", "value": 7}, {"op": "write", "value": 9}, {"op": "Total"}]},
    }
    assert stats_sample(stats) == {"cpu_percent": 40.0, "memory_bytes": 4096,
                                   "receive_total": 11, "transmit_total": 20,
                                   "disk_read_total": 7, "disk_write_total": 9}
    assert stats_sample({})["cpu_percent"] == 0  # podman's first reading has no previous


def sample(seconds: int, mem: int) -> dict[str, object]:
    return {"at": T0 + timedelta(seconds=seconds), "cpu_percent": "1.0", "memory_bytes": mem,
            "receive_total": mem, "transmit_total": 0, "disk_read_total": 0,
            "disk_write_total": 0}


def test_one_point_per_step_keeps_the_last_sample_unless_raw() -> None:
    samples = [sample(0, 1), sample(20, 2), sample(61, 3), sample(70, 4), sample(130, 5)]
    stepped = series(samples, T0, timedelta(minutes=1), raw=False)
    assert stepped.mem.datasets == ["2", "4", "5"]
    assert stepped.mem.labels == ["12:00:20", "12:01:10", "12:02:10"]
    assert stepped.network.receive == stepped.total.receive_total
    raw = series(samples, T0, timedelta(minutes=1), raw=True)
    assert raw.mem.datasets == ["1", "2", "3", "4", "5"]
    assert raw.cpu.timestamps[0] == "2026-01-01 12:00:00.000"
