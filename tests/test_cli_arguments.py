"""The Mapper flags of every command come from Mapper: the same defaults, the same ranges, one message format."""

from __future__ import annotations

from numbers import Integral, Real

import pytest
from sklearn.utils._param_validation import Interval, StrOptions

from topoact.cli import build_parser, main
from topoact.cli.params import MAPPER_FLAGS, describe, mapper_params
from topoact.mapper import Mapper

#: command -> the arguments it needs to parse (nothing runs).
COMMANDS = {
    "mapper": ["mapper", "--input", "x.npy"],
    "compare": ["compare", "--models", "digits_cnn", "--dataset", "digits"],
    "featvis": ["featvis", "--model", "digits_cnn", "--dataset", "digits"],
    "anomalies": ["anomalies", "--model", "digits_mlp", "--dataset", "digits"],
    "robustness": ["robustness", "--model", "digits_cnn", "--dataset", "digits"],
}


def parse(argv):
    return build_parser(only=argv[0]).parse_args(argv)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_defaults_to_the_estimator_defaults(command):
    args = parse(COMMANDS[command])
    flags = set(args._mapper_flags)
    assert {"n_intervals", "overlap", "min_samples"} <= flags
    defaults = Mapper().get_params()
    params = mapper_params(args)
    assert params == {name: defaults[name] for name in flags}
    # the help shows the same default
    parser = build_parser(only=command)._subparsers._group_actions[0].choices[command]
    help_text = " ".join(parser.format_help().split())
    assert f"(default {defaults['n_intervals']})" in help_text and f"(default {defaults['overlap']})" in help_text


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag, value, message", [
    ("--intervals", "0", "--intervals must be at least 1"),
    ("--overlap", "1.5", "--overlap must be in [0, 1); got 1.5"),
    ("--overlap", "much", "--overlap must be in [0, 1); got much"),
    ("--min-samples", "0", "--min-samples must be at least 1; got 0"),
])
def test_an_out_of_range_value_is_one_line_naming_the_valid_range(command, flag, value, message, capsys):
    assert main([*COMMANDS[command], flag, value]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), err


def test_the_messages_name_the_estimators_ranges(capsys):
    assert main(["mapper", "--input", "x.npy", "--eps", "-2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --eps must be a positive number or one of auto, knee, hausdorff, adaptive; got -2")
    assert main(["mapper", "--input", "x.npy", "--eps-quantile", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --eps-quantile must be in (0, 1]; got 0"
    assert main(["mapper", "--input", "x.npy", "--intervals", "ten"]) == 2
    assert capsys.readouterr().err.strip() == "error: --intervals must be at least 1 or auto; got ten"
    # a command whose sweep needs whole intervals takes no rule
    assert main([*COMMANDS["anomalies"], "--intervals", "auto"]) == 2
    assert capsys.readouterr().err.strip() == "error: --intervals must be at least 1; got auto"


def test_valid_values_are_converted_as_the_estimator_takes_them():
    args = parse([*COMMANDS["mapper"], "--intervals", "auto", "--overlap", "0.45", "--eps", "0.7",
                  "--min-samples", "3", "--jobs", "-1", "--lens", "l2norm,pca"])
    params = mapper_params(args)
    assert params["n_intervals"] == "auto" and params["overlap"] == 0.45 and params["eps"] == 0.7
    assert params["min_samples"] == 3 and isinstance(params["min_samples"], int) and params["n_jobs"] == -1
    assert params["lens"] == ["l2norm", "pca"]
    Mapper(**params)._validate_params()  # what the flags give, the estimator accepts
    assert parse([*COMMANDS["mapper"], "--intervals", "12"]).intervals == "12"  # checked later, in one place


def test_every_flag_is_a_parameter_of_the_estimator_and_its_constraints_read_as_words():
    assert set(MAPPER_FLAGS) <= set(Mapper().get_params())
    assert describe(Interval(Integral, 1, None, closed="left")) == "at least 1"
    assert describe(Interval(Real, 0.0, 1.0, closed="left")) == "in [0, 1)"
    assert describe(Interval(Real, 0.0, 1.0, closed="right")) == "in (0, 1]"
    assert describe(Interval(Real, 0.0, None, closed="neither")) == "a positive number"
    assert describe(Interval(Integral, 2, 8, closed="both")) == "an integer in [2, 8]"
    assert describe(StrOptions({"b", "a"})) == "one of a, b"
    assert describe(StrOptions({"auto"})) == "auto"
