"""The shell and the pages show a stored text's control characters one way: `\\xNN`."""

from tidings.adapters.visible import controls_shown


def test_control_characters_are_shown_as_escapes_and_printable_text_as_it_is() -> None:
    text = "ok\t1\nNUL\x00 ESC\x1b[31m DEL\x7f C1\x85 CR\r é ✓"
    assert controls_shown(text) == "ok\t1\nNUL\\x00 ESC\\x1b[31m DEL\\x7f C1\\x85 CR\\x0d é ✓"
    # A page keeps the carriage return (HTML shows it as a space); a terminal does not.
    assert controls_shown("a\r\nb\x00", "\t\n\r") == "a\r\nb\\x00"


def test_marks_that_change_how_a_line_reads_are_shown_as_escapes() -> None:
    # A right-to-left override would show "gnp.exe" as "exe.png"; a line separator
    # would start a new line in a table's cell. Joiners inside emoji stay as they are.
    text = "file\u202egnp.exe \u2066x\u2069 a\u2028b \u200fm family \U0001f468\u200d\U0001f469"
    assert controls_shown(text) == (
        "file\\u202egnp.exe \\u2066x\\u2069 a\\u2028b \\u200fm family \U0001f468\u200d\U0001f469"
    )
