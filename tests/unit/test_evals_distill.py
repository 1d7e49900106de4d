"""The distillation filter on crafted trajectories: one passes, one fails each rule."""

import json

from sleuth.evals.distill import Trajectory, failed_rules, filter_trajectories, write_sft

SYSTEM = {"role": "system", "content": "You answer questions with a search engine."}
QUESTION = {"role": "user", "content": "Question: Where was the director of Jaws born?"}


def _traj(
    prediction: str, info: str, thought: str = "I need the director.", searches: int = 1, **kw
) -> Trajectory:
    messages = [SYSTEM, QUESTION]
    if searches:
        messages += [
            {"role": "assistant", "content": f"{thought}\n<search>Who directed Jaws?</search>"},
            {"role": "user", "content": f"<information>{info}</information>"},
        ]
    messages.append({"role": "assistant", "content": f"<answer>{prediction}</answer>"})
    return Trajectory(
        question="Where was the director of Jaws born?",
        answers=["Cincinnati, Ohio"],
        prediction=prediction,
        messages=messages,
        search_calls=searches,
        **kw,
    )


GOOD = _traj("Cincinnati, Ohio", "Jaws was directed by Steven Spielberg, born in Cincinnati, Ohio.")
WRONG = _traj("Los Angeles", "Jaws was directed by Steven Spielberg, born in Los Angeles.")
UNGROUNDED = _traj("Cincinnati, Ohio", "Jaws was directed by Steven Spielberg.")
NO_SEARCH = _traj("Cincinnati, Ohio", "", searches=0)
MEMORY = _traj(
    "Cincinnati, Ohio",
    "Spielberg was born in Cincinnati, Ohio.",
    thought="As is well known, Spielberg directed it.",
)


def test_each_rule_catches_its_case():
    assert failed_rules(GOOD) == []
    assert failed_rules(WRONG) == ["f1"]
    assert failed_rules(UNGROUNDED) == ["grounded"]
    assert failed_rules(NO_SEARCH) == ["grounded"]
    assert failed_rules(MEMORY) == ["no_parametric"]


def test_f1_threshold_is_strict():
    # "Cincinnati" vs "Cincinnati Ohio": P=1, R=1/2 -> F1 = 0.667 > 0.65 (kept); a 3-token gold would drop it
    partial = _traj("Cincinnati", "Spielberg was born in Cincinnati.")
    assert failed_rules(partial) == []
    assert failed_rules(partial, min_f1=0.7) == ["f1"]


def test_retrieved_passages_count_as_evidence_and_no_info_does_not():
    via_passage = _traj(
        "Cincinnati, Ohio",
        "No helpful information found.",
        passages=["Steven Spielberg was born in Cincinnati, Ohio."],
    )
    assert failed_rules(via_passage) == []
    assert failed_rules(_traj("Cincinnati, Ohio", "No helpful information found.")) == ["grounded"]


def test_yes_no_answers_need_a_useful_search_not_the_word():
    t = Trajectory(
        "Are both lakes in the US?",
        ["no"],
        "no",
        [
            SYSTEM,
            {"role": "assistant", "content": "<search>where are they</search>"},
            {"role": "user", "content": "<information>Lake Geneva is in Switzerland.</information>"},
        ],
        search_calls=1,
    )
    assert failed_rules(t) == []


def test_counts_and_sft_export(tmp_path):
    kept, counts = filter_trajectories([GOOD, WRONG, UNGROUNDED, NO_SEARCH, MEMORY])
    assert kept == [GOOD]
    assert counts.as_dict() == {
        "total": 5,
        "kept": 1,
        "dropped": 4,
        "dropped_by_rule": {"f1": 1, "grounded": 2, "no_parametric": 1},
    }
    out = tmp_path / "sft.jsonl"
    assert write_sft(out, kept) == 1
    line = json.loads(out.read_text())
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert line["messages"][-1]["content"] == "<answer>Cincinnati, Ohio</answer>"
