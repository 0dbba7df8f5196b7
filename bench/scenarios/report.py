"""bench/RESULTS.md's suite section (between markers, other sections kept) and bench/plot.png."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

START = "<!-- suite:start -->"
END = "<!-- suite:end -->"
HEADING = "## Suite"


@dataclass(frozen=True)
class Figure:
    """One headline figure against its target; `met` is None when it could not be measured."""

    number: str
    what: str
    value: str
    target: str
    met: bool | None


@dataclass
class Report:
    command: str
    machine: dict[str, str]
    started: str
    figures: list[Figure] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def figure(self, number: str, what: str, value: str, target: str, met: bool | None) -> None:
        self.figures.append(Figure(number, what, value, target, met))

    def section(self, title: str, body: str) -> None:
        self.sections.append((title, body.strip()))

    def markdown(self) -> str:
        lines = [START, HEADING, "", f"Command: `{self.command}`  ", f"Date: {self.started}  "]
        lines.append("Machine: " + ", ".join(f"{k} {v}" for k, v in self.machine.items()))
        lines += ["", "| # | measurement | figure | target | met |", "|---|---|---|---|---|"]
        for f in self.figures:
            verdict = "n/a" if f.met is None else ("yes" if f.met else "**no**")
            lines.append(f"| {f.number} | {f.what} | {f.value} | {f.target} | {verdict} |")
        lines += ["", "![deliveries/s against concurrency](plot.png)", ""]
        for title, body in self.sections:
            lines += [f"### {title}", "", body, ""]
        lines.append(END)
        return "\n".join(lines) + "\n"


def write_results(path: Path, section: str) -> None:
    """Replace the suite section of `path` (or append it), leaving every other section as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def plot(path: Path, series: dict[str, dict[int, float]], title: str) -> None:
    """Deliveries/s against concurrency, one line per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, points in series.items():
        if not points:
            continue
        xs = sorted(points)
        # A single point (the two-process run) is drawn larger so it is not hidden behind a line.
        marker, size = ("D", 9) if len(xs) == 1 else ("o", 5)
        ax.plot(xs, [points[x] for x in xs], marker=marker, markersize=size, label=name,
                linestyle="-" if len(xs) > 1 else "none")
    ax.set_xscale("log")
    concurrencies = sorted({x for points in series.values() for x in points})
    ax.set_xticks(concurrencies, [str(x) for x in concurrencies])
    ax.set_xlabel("concurrent requests")
    ax.set_ylabel("deliveries (POSTs) per second")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
