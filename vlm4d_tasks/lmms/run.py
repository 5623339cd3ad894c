"""One lmms-eval run of the VLM4D tasks, on rank 0: its table rows, verdicts, judges, metadata
and the files it writes next to lmms-eval's results.

lmms-eval 0.7.3 gives aggregation functions no run id and no end-of-run hook, so the metric's
aggregation (`vlm4d_tasks.lmms.metric`) asks `current_run(args)` for the run its `args` belongs
to, and the run rewrites its table and score document as each task is aggregated; the files
take lmms-eval's run id when it saves its results (`Run.adopt_run_id`, called from the hook
`plugin.install_run_id`). The scoring itself is `vlm4d_tasks.pipeline.score`, the same as
`vlm4d score`'s.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# lmms-eval's output naming (a copy of a private rule) and stamp live in `compat`.
from vlm4d_tasks.lmms.compat import model_name, results_folder, run_stamp


def model_label(args: Any) -> str:
    """`model` plus the checkpoint or response file it was given, e.g. "qwen2_vl (Qwen/...)"."""
    model = str(getattr(args, "model", None) or "model")
    name = model_name(str(getattr(args, "model_args", "") or ""))
    return f"{model} ({name})" if name else model


def output_folder(args: Any) -> Path | None:
    """lmms-eval's results folder of this run (`--output_path`/<sanitized model name>)."""
    base = getattr(args, "output_path", None)
    if not base:
        return None
    return results_folder(base, str(getattr(args, "model_args", "") or ""))


# Our files of a run: <stamp>_vlm4d_table.md and <stamp>_vlm4d_score.json.
RUN_FILES = "vlm4d"


class Run:
    """What one lmms-eval run has scored so far, on rank 0.

    Lifecycle: made at the first aggregation of a run (`current_run`); each task's `accuracy`
    aggregation adds the task's scored items as its table row (`record`) and rewrites the
    run's table and score JSON; replaced, and its judges' cache closed, when the next run's
    first aggregation comes. It holds the verdicts decided so far (every metric of a task, and
    the tasks of a group, aggregate the same items: each is decided once), the judges (one
    circuit breaker and cache per run), the judge batches and the files' time stamp.
    """

    def __init__(self, args: Any = None) -> None:
        self.args = args
        self.rows: dict[str, dict[str, Any]] = {}  # table row -> uid -> ScoredItem
        self.stamp: str | None = None
        self.folder: Path | None = None  # where its files are, once written
        self.judge_batches: list[dict[str, Any]] = []  # Grading.to_dict() of each batch
        self._verdicts: dict[tuple, Any] = {}  # (judge config, uid, question+answer sha) -> item
        self._panels: dict[Any, Any] = {}  # judge config -> pipeline.JudgePanel
        self._lock = threading.Lock()

    def panel(self, config: Any) -> Any:
        """The judges of `config` (made once per run and config)."""
        from vlm4d_tasks.pipeline.score import open_judges

        if config not in self._panels:
            self._panels[config] = open_judges(config)
        return self._panels[config]

    def scored(self, items: Sequence[Mapping[str, Any]]) -> list:
        """The scored item of each item; the ones not decided yet are decided in one call to
        the pipeline (concurrent judge batches), with the judge settings as they are now."""
        from vlm4d_tasks.pipeline.score import answer_from_item, grade_answers, judge_config

        config = judge_config()

        def key(item: Mapping[str, Any]) -> tuple:
            # The question as asked (a re-lettered document is another question) and the answer.
            asked = json.dumps([item["record"], item["response"]], sort_keys=True)
            return (config, item["uid"], hashlib.sha256(asked.encode("utf-8")).hexdigest())

        with self._lock:
            todo = {}
            for item in items:
                if key(item) not in self._verdicts:
                    todo.setdefault(key(item), item)
            if todo:
                answers = [answer_from_item(item) for item in todo.values()]
                graded = grade_answers(answers, config.mode, self.panel(config).judges)
                if config.mode != "rule":
                    self.judge_batches += [g.to_dict() for g in graded.gradings]
                self._verdicts.update(zip(todo, graded.items))
            return [self._verdicts[key(item)] for item in items]

    def record(self, scored: Sequence[Any], items: Sequence[Mapping[str, Any]]) -> None:
        """Add a task's scored items to its table row; rewrite the run's table and JSON."""
        for it, item in zip(scored, items):
            self.rows.setdefault(item["row"], {})[it.record.uid] = it
        folder = output_folder(self.args)
        if folder is not None:
            self.write(folder)

    def metadata(self) -> dict[str, Any]:
        """Versions, data, protocol, decoding, frames, judge and model of this run.

        `protocol` (`vlm4d_tasks.lmms.protocol_run.describe_run`) says which protocol each table
        row used, the generation kwargs the tasks passed (YAML, updated by `--gen_kwargs`), the
        seeds and the frame arguments of `--model_args`.
        """
        from importlib.metadata import PackageNotFoundError, version

        from vlm4d_tasks import __version__
        from vlm4d_tasks.lmms.data import current_source, run_settings
        from vlm4d_tasks.lmms.protocol_run import describe_run
        from vlm4d_tasks.pipeline.score import judge_config
        from vlm4d_tasks.settings import Settings

        try:
            lmms_version = version("lmms_eval")
        except PackageNotFoundError:
            lmms_version = None
        source = current_source()
        judge = self.panel(judge_config()).block()
        settings = Settings.from_environ()  # the variables as this run set them
        args = self.args
        return {
            "vlm4d_tasks_version": __version__,
            "lmms_eval_version": lmms_version,
            "dataset": source.describe() if source else None,
            "protocol": describe_run(
                self.rows,
                gen_kwargs=getattr(args, "gen_kwargs", None),
                seed=getattr(args, "seed", None),
                model_args=getattr(args, "model_args", None),
                model_class=getattr(args, "model", None),
                protocol_model=settings.protocol_model,
                frames=settings.frames,
                # which implementation `--model` runs, and against which lmms-eval its
                # generation kwargs were checked (`protocol_run.GENERATION_KWARGS`)
                force_simple=bool(getattr(args, "force_simple", False)),
                lmms_eval_version=lmms_version,
            ),
            "visual_input": run_settings(),
            "judge": {"mode": judge["mode"], "models": judge["models"]},
            "model": getattr(args, "model", None),
            "model_args": getattr(args, "model_args", None),
            "gen_kwargs": getattr(args, "gen_kwargs", None),
            "limit": getattr(args, "limit", None),
            "seed": getattr(args, "seed", None),
        }

    def document(self) -> dict[str, Any]:
        """The score document of the rows recorded so far (`pipeline.score_document`, as
        `vlm4d score` writes it), plus the run's metadata and judge batches."""
        from vlm4d_tasks.pipeline.score import judge_config, rows_to_runs, score_document

        config = judge_config()
        rows = {row: list(by_uid.values()) for row, by_uid in self.rows.items()}
        runs, models = rows_to_runs(rows, model_label(self.args), config.mode)
        return score_document(
            runs, models, judge=self.panel(config).block(), run=self.metadata(),
            judge_batches=self.judge_batches,
        )  # fmt: skip

    def write(self, folder: Path) -> None:
        """`<stamp>_vlm4d_table.md` and `<stamp>_vlm4d_score.json` in `folder`, named like
        lmms-eval's `<stamp>_results.json` so that a run's files sort together (aggregation
        cannot see lmms-eval's stamp: they are renamed to it when lmms-eval saves,
        `plugin.install_run_id`); the table says under its title which protocol its rows used."""
        from vlm4d_tasks.lmms.protocol_run import markdown_line
        from vlm4d_tasks.pipeline.score import score_json
        from vlm4d_tasks.report.score_report import score_markdown

        if self.stamp is None:
            from vlm4d_tasks.lmms.plugin import install_run_id

            # lmms-eval saves its results after the aggregation: the stamp is provisional
            # until that save gives the run's id (`adopt_run_id`).
            install_run_id()
            self.stamp = run_stamp(getattr(self.args, "timezone", None) or "UTC")
        score = self.document()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        table = score_markdown(score, note=markdown_line(score["run"]["protocol"]))
        from vlm4d_tasks.data.files import write_file

        for kind, text in (("table.md", table), ("score.json", score_json(score))):
            # whole or not at all; a symlink planted in --output_path is replaced, not followed
            write_file(self.file(kind), text.encode("utf-8"))

    def file(self, kind: str, stamp: str | None = None) -> Path:
        """`<stamp>_vlm4d_<kind>` in the run's folder ("table.md" or "score.json")."""
        return Path(self.folder) / f"{stamp or self.stamp}_{RUN_FILES}_{kind}"

    def adopt_run_id(self, run_id: str, folder: Path) -> None:
        """Rename this run's files to lmms-eval's run id once its results file has it (the
        `date_id` of `<folder>/<run_id>_results.json`), so that all of a run's files share
        one prefix; a run whose files are elsewhere, or not written, is left alone."""
        if self.folder is None or self.stamp is None or self.stamp == run_id:
            return
        if Path(self.folder).resolve() != Path(folder).resolve():
            return
        for kind in ("table.md", "score.json"):
            if self.file(kind).is_file() and not self.file(kind, run_id).exists():
                self.file(kind).rename(self.file(kind, run_id))
        self.stamp = run_id

    def close(self) -> None:
        for panel in self._panels.values():
            panel.close()
        self._panels.clear()


# lmms-eval gives aggregation functions no run id, only its parsed command line (`args`, one
# namespace per evaluation: each `--config` entry of one process gets its own; `compat`'s
# table). So a run is the identity of that object: a different `args` is a new run. The
# reference is kept (not `id(args)`, which a later namespace could reuse). Without `args`
# (older callers, direct use) the current run continues.
_current = Run()


def current_run(args: Any = None) -> Run:
    """The run `args` belongs to (see above); a new one when lmms-eval starts another."""
    global _current
    if args is not None and args is not _current.args:
        _current.close()
        _current = Run(args)
    return _current
