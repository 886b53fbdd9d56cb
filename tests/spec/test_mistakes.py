"""Each of the mistakes a new author makes (issue 25's seventeen, and a few more) gives exactly one
problem, phrased for the author: the file, line and column, the path, what is wrong, "did you
mean" for a misspelt name, and a caret under the offending part of an expression. No message
shows the validation library's internals, and a type error is found when the blueprint loads,
before any gate run. Every case is one edit of the tutorial's blueprint (docs/first-domain.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaleenv_mcp.spec import BlueprintError, load_blueprint

from .test_first_domain import tutorial_blueprint, write_tutorial

MISTAKES = [
    pytest.param(
        'unique: true, identifying: true}\n  dentist',
        'uniqe: true, identifying: true}\n  dentist',
        "dental_clinic.yaml:25:44: entities.patient.fields.email.uniqe: unknown key 'uniqe'; did you mean 'unique'?",
        id='misspelt_key',
    ),
    pytest.param(
        '    returns: appointment\n',
        '    return: appointment\n',
        "dental_clinic.yaml:75:5: tools.book_appointment.return: unknown key 'return'; did you mean 'returns'?",
        id='misspelt_tool_key',
    ),
    pytest.param(
        'ref: dentist}',
        'ref: dentst}',
        "dental_clinic.yaml:40:36: entities.appointment.fields.dentist_id.ref: unknown entity 'dentst'; did you mean 'dentist'?",
        id='unknown_entity',
    ),
    pytest.param(
        '"appointment.status = \'cancelled\'"',
        '"appointment.stauts = \'cancelled\'"',
        "dental_clinic.yaml:86:9: tools.cancel_appointment.effects[1]: unknown field 'stauts' on entity 'appointment'; did you mean 'status'?",
        id='unknown_field_in_an_effect',
    ),
    pytest.param(
        'identify: [find_patient_by_email]',
        'identify: [find_patient_by_mail]',
        "dental_clinic.yaml:16:14: actor.identify[0]: unknown tool 'find_patient_by_mail'; did you mean 'find_patient_by_email'?",
        id='unknown_tool',
    ),
    pytest.param(
        'hours_between(now',
        'hour_between(now',
        "dental_clinic.yaml:85:34: tools.cancel_appointment.effects[0]: in 'appointment.fee = 25 if hour_between(now, appointment.starts_at) < 24 else appointment.fee': unknown function 'hour_between'; did you mean 'hours_between'?\n    appointment.fee = 25 if hour_between(now, appointment.starts_at) < 24 else appointment.fee\n                            ^^^^^^^^^^^^",
        id='unknown_function',
    ),
    pytest.param(
        'check: "dentist.active"',
        'check: "dentst.active"',
        "dental_clinic.yaml:70:18: tools.book_appointment.requires[0].check: unknown name 'dentst' in 'dentst.active'; did you mean 'dentist'?\n    dentst.active\n    ^^^^^^",
        id='unknown_name',
    ),
    pytest.param(
        'check: "starts_at > now"',
        'check: "count(\'appointments\', dentist_id=dentist.id) < 8"',
        'dental_clinic.yaml:71:24: tools.book_appointment.requires[1].check: unknown entity \'appointments\' in "count(\'appointments\', dentist_id=dentist.id) < 8"; did you mean \'appointment\'?\n    count(\'appointments\', dentist_id=dentist.id) < 8\n          ^^^^^^^^^^^^^^',
        id='unknown_entity_in_count',
    ),
    pytest.param(
        '      - "appointment.fee = 25 if hours_between(now, appointment.starts_at) < 24 else appointment.fee"',
        '      - set: "appointment.fee = 25"\n        when: "hours_between(now, appointment.starts_at) < 24"',
        'dental_clinic.yaml:85:9: tools.cancel_appointment.effects[0]: an assignment cannot take \'when\': write the condition into the value, x if c else y ("order.fee = 25 if late else order.fee")',
        id='when_on_an_assignment',
    ),
    pytest.param(
        'check: "appointment.status == \'scheduled\'"',
        'check: "appointment.fee > \'0\'"',
        'dental_clinic.yaml:83:36: tools.cancel_appointment.requires[0].check: appointment.fee is a number but \'0\' is text; compare like with like, in "appointment.fee > \'0\'"\n    appointment.fee > \'0\'\n                      ^^^',
        id='number_compared_with_text',
    ),
    pytest.param(
        'check: "starts_at > now"',
        'check: "starts_at > 0"',
        "dental_clinic.yaml:71:30: tools.book_appointment.requires[1].check: starts_at is text but 0 is a number; compare like with like, in 'starts_at > 0'\n    starts_at > 0\n                ^",
        id='datetime_compared_with_a_number',
    ),
    pytest.param(
        'check: "dentist.active"',
        'check: "dentist.name"',
        "dental_clinic.yaml:70:18: tools.book_appointment.requires[0].check: a rule's check must give true/false, but 'dentist.name' gives text\n    dentist.name\n    ^^^^^^^^^^^^",
        id='a_check_that_is_not_a_condition',
    ),
    pytest.param(
        'derive: "\'completed\' if starts_at < now else \'scheduled\'"',
        'derive: "starts_at < now"',
        "dental_clinic.yaml:43:80: entities.appointment.fields.status.derive: the derive of appointment.status (enum) must give text, but 'starts_at < now' gives true/false\n    starts_at < now\n    ^^^^^^^^^^^^^^^",
        id='a_derive_of_the_wrong_type',
    ),
    pytest.param(
        '"appointment.fee = 25 if',
        '"appointment.fee = \'25\' if',
        "dental_clinic.yaml:85:28: tools.cancel_appointment.effects[0]: appointment.fee is money but '25' gives text\n    appointment.fee = '25' if hours_between(now, appointment.starts_at) < 24 else appointment.fee\n                      ^^^^",
        id='text_written_into_money',
    ),
    pytest.param(
        '"appointment.status = \'cancelled\'"',
        '"appointment.status = \'canceled\'"',
        "dental_clinic.yaml:86:31: tools.cancel_appointment.effects[1]: 'canceled' is not a value of appointment.status; did you mean 'cancelled'?\n    appointment.status = 'canceled'\n                         ^^^^^^^^^^",
        id='misspelt_enum_value_written',
    ),
    pytest.param(
        'check: "appointment.status == \'scheduled\'"',
        'check: "appointment.status == \'sheduled\'"',
        "dental_clinic.yaml:83:40: tools.cancel_appointment.requires[0].check: 'sheduled' is not a value of appointment.status; did you mean 'scheduled'?\n    appointment.status == 'sheduled'\n                          ^^^^^^^^^^",
        id='misspelt_enum_value_compared',
    ),
    pytest.param(
        'check: "appointment.status == \'scheduled\'"',
        'check: "appointment.status = \'scheduled\'"',
        'dental_clinic.yaml:83:37: tools.cancel_appointment.requires[0].check: cannot parse "appointment.status = \'scheduled\'": invalid syntax; compare with == (a rule is a condition, not an assignment)\n    appointment.status = \'scheduled\'\n                       ^',
        id='assignment_instead_of_comparison',
    ),
    pytest.param(
        '{dentist_id} on',
        '{dentist} on',
        'dental_clinic.yaml:63:9: tools.book_appointment.phrasings[0]: unknown slot {dentist}; did you mean {dentist_id}?',
        id='misspelt_slot',
    ),
    pytest.param(
        'fee: {type: money,',
        'fee: {type: currency,',
        "dental_clinic.yaml:44:19: entities.appointment.fields.fee.type: 'currency' is not one of string, text, int, float, money, bool, date, datetime, enum, ref",
        id='unknown_field_type',
    ),
    pytest.param(
        'count: 4\n',
        'count: four\n',
        "dental_clinic.yaml:30:12: entities.dentist.count: expected a whole number, got 'four'",
        id='text_where_a_number_goes',
    ),
    pytest.param(
        ', error: "Appointments are booked in the future."',
        '',
        'dental_clinic.yaml:71:9: tools.book_appointment.requires[1].error: required key is missing',
        id='missing_error',
    ),
    pytest.param(
        '    id_prefix: DEN\n',
        '    id_prefix: DEN\n   label: name\n',
        "dental_clinic.yaml:29:4: (yaml): not valid YAML: this line's indentation does not line up with the lines above it",
        id='bad_indentation',
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), MISTAKES)
def test_a_mistake_is_one_problem_with_its_position_and_the_fix(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = tutorial_blueprint()
    assert old in text
    path = write_tutorial(tmp_path, text.replace(old, new, 1))
    with pytest.raises(BlueprintError) as caught:
        load_blueprint(path)
    assert [p.render("dental_clinic.yaml") for p in caught.value.problems] == [expected]
    assert str(caught.value).startswith(f"{path}: invalid blueprint (1 problem)\n  {path}:")
    for internal in ("Input should", "Field required", "<str>", "CreateEffect", "unicode string", "Value error"):
        assert internal not in str(caught.value)


def test_a_yaml_error_names_the_file_not_a_unicode_string(tmp_path: Path) -> None:
    path = write_tutorial(tmp_path, tutorial_blueprint().replace("seed: 1\n", "seed: 1\n\tbad: tab\n"))
    with pytest.raises(BlueprintError) as caught:
        load_blueprint(path)
    (problem,) = caught.value.problems
    assert str(caught.value).splitlines()[1] == f"  {path}:14:1: (yaml): not valid YAML: a tab in the indentation; indent with spaces"
    assert (problem.line, problem.column) == (14, 1)


def test_several_mistakes_are_each_reported_once_with_its_line(tmp_path: Path) -> None:
    text = tutorial_blueprint().replace("ref: dentist}", "ref: dentst}", 1).replace('check: "dentist.active"', 'check: "dentist.nme"')
    with pytest.raises(BlueprintError) as caught:
        load_blueprint(write_tutorial(tmp_path, text))
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (40, "entities.appointment.fields.dentist_id.ref"),
        (70, "tools.book_appointment.requires[0].check"),
    ]
    assert caught.value.problems[1].message == "unknown field 'nme' on entity 'dentist' in 'dentist.nme'; did you mean 'name'?"


def test_parsed_data_has_paths_but_no_positions() -> None:
    import yaml

    from scaleenv_mcp.spec import parse_blueprint

    data = yaml.safe_load(tutorial_blueprint().replace("ref: dentist}", "ref: dentst}", 1))
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data, "data")
    assert [str(p) for p in caught.value.problems] == [
        "entities.appointment.fields.dentist_id.ref: unknown entity 'dentst'; did you mean 'dentist'?"
    ]


def test_the_references_example_messages_are_what_the_loader_says(tmp_path: Path) -> None:
    from ..conftest import ROOT

    reference = (ROOT / "docs" / "blueprint-language.md").read_text(encoding="utf-8")
    shown = reference.split("```text\n", 1)[1].split("```", 1)[0]
    retail = (ROOT / "synthesis" / "domains" / "retail.yaml").read_text(encoding="utf-8")
    edits = [
        ('"product.stock += order.quantity"\n      - "order.status', '"product.stok += order.quantity"\n      - "order.status'),
        ("check: \"order.status != 'cancelled'\", error: \"This order is already cancelled.\"",
         "check: \"order.total > '0'\", error: \"This order is already cancelled.\""),
    ]  # fmt: skip
    said = []
    for old, new in edits:
        assert old in retail
        path = tmp_path / "retail.yaml"
        path.write_text(retail.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(BlueprintError) as caught:
            load_blueprint(path)
        said += [p.render("retail.yaml") for p in caught.value.problems]
    assert "\n".join(said) + "\n" == shown


def test_problems_come_in_file_order(tmp_path: Path) -> None:
    text = tutorial_blueprint().replace("unique: true, identifying: true}\n  dentist", "uniqe: true, identifying: true}\n  dentist", 1)
    text = text.replace(
        '      - "appointment.fee = 25 if hours_between(now, appointment.starts_at) < 24 else appointment.fee"',
        '      - set: "appointment.fee = 25"\n        when: "hours_between(now, appointment.starts_at) < 24"',
    )
    text += "provenence: {model: none}\n"
    with pytest.raises(BlueprintError) as caught:
        load_blueprint(write_tutorial(tmp_path, text))
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (25, "entities.patient.fields.email.uniqe"),
        (85, "tools.cancel_appointment.effects[0]"),
        (88, "provenence"),
    ]
    assert caught.value.problems[2].message == "unknown key 'provenence'; did you mean 'provenance'?"
