"""The README's first command works on the example calendar."""

from click.testing import CliRunner

from socialsched.cli import main


def test_plan_prints_a_table_for_the_example(example_calendar_path):
    result = CliRunner().invoke(
        main, ["plan", str(example_calendar_path), "--start", "2027-01-01", "--end", "2027-01-31"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split()[:3] == ["UTC", "LOCAL", "SEGMENT"]
    assert "weekly-recipe" in result.output
