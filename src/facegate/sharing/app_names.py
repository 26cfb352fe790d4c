"""Names a consent prompt can show without misleading the person reading it.

A name is what the person trusts when they decide, so a registration may not use
look-alike tricks (https://www.unicode.org/reports/tr39/):

* **NFKC normalisation** folds compatibility forms first (full-width letters,
  ligatures, superscripts), so they are judged as the letters they show.
* **One script per name.** Letters from more than one script (a Cyrillic ``\\u0443`` in
  an otherwise Latin name) are refused. Digits, punctuation and spaces belong to
  no script; Han, Hiragana and Katakana count as one (Japanese), as do Han and
  Hangul (Korean).
* **No imitation of the platform.** After mapping the usual confusables (Cyrillic
  and Greek letters that look Latin, digits that look like letters), a name in
  which ``facegate`` starts at a word (``Face Gate``, ``FaceGate System``,
  ``MyFaceGate``, ``F4ceG4te``) is refused: only the platform speaks as FaceGate.
  Inside a word it is allowed (``Surface Gateway``).
* **The local VMC bridge's name** is the platform's too: only ``facegate osc``
  registers it (from the command line); an app registering over HTTP may not.
* **Namesakes are shown, not refused.** Two apps may end up with names that read the
  same (a developer's second key, a banned app back under its old name); the consent
  page then says so and shows each app's id and registration date
  (``looks_the_same``).
"""

from __future__ import annotations

import unicodedata

from facegate.sharing.errors import InvalidApp

PLATFORM_NAME = "facegate"
BRIDGE_NAME = "VMC avatar bridge"

# Scripts that legitimately mix within one name.
_SCRIPT_FAMILIES = dict.fromkeys(
    ("HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL", "CJK"), "CJK"
)

# Characters that render like Latin letters (a subset of Unicode's confusables.txt),
# given as the Latin letter they imitate.
_CONFUSABLES = str.maketrans(
    # Cyrillic, then Greek, then digits and symbols written for letters
    "\u0430\u0432\u0441\u0501\u0435\u0451\u04bb\u0456\u0458\u043a\u04cf\u043c"
    "\u043d\u043e\u0440\u051b\u0455\u0442\u0443\u0445\u0433\u050d\u0261\u0475"
    "\u051d\u043f\u03b1\u03b2\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4"
    "\u03c5\u03c7\u03b3\u03f2\u03f3"
    "01345678@$|!",
    "abcdeehijklmhopqstyxrggvwnabenikvoptuxycjoleasgtbasli",
)


def _script(ch: str) -> str | None:
    """The script of a letter (by its Unicode name's first word); None for a non-letter."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    first = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
    return _SCRIPT_FAMILIES.get(first, first)


def scripts_of(text: str) -> set[str]:
    """The scripts whose letters appear in ``text``."""
    return {script for ch in text if (script := _script(ch)) is not None}


def skeleton_words(text: str) -> list[str]:
    """The words a reader would see in ``text``, as lower-case Latin letters.

    Confusables are folded and accents dropped; a word also ends where a lower-case
    letter meets an upper-case one (``MyFaceGate`` is three words).
    """
    words: list[str] = []
    current = ""
    previous_lower = False
    for ch in unicodedata.normalize("NFKC", text):
        mapped = ch.casefold().translate(_CONFUSABLES)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", mapped) if not unicodedata.combining(c)
        )
        latin = "".join(c for c in base if "a" <= c <= "z")
        if not latin or (previous_lower and ch.isupper()):
            if current:
                words.append(current)
            current = ""
        current += latin
        previous_lower = ch.islower()
    if current:
        words.append(current)
    return words


def imitates_platform(text: str) -> bool:
    """True when ``facegate`` starts at a word of ``text`` once confusables are folded."""
    words = skeleton_words(text)
    return any("".join(words[i:]).startswith(PLATFORM_NAME) for i in range(len(words)))


def check_shown_name(field: str, value: str) -> str:
    """``value`` NFKC-normalised, or InvalidApp if it mixes scripts or imitates FaceGate.

    ``value`` must already be a checked one-line text (``apps._text``).
    """
    normalised = unicodedata.normalize("NFKC", value)
    scripts = scripts_of(normalised)
    if len(scripts) > 1:
        raise InvalidApp(
            f"{field} mixes letters of several scripts ({', '.join(sorted(scripts))}): "
            "use one script, so the name reads the same to everyone"
        )
    if imitates_platform(normalised):
        raise InvalidApp(
            f"{field} must not look like the platform's own name (FaceGate): people would "
            "take the app for part of FaceGate"
        )
    return normalised


def looks_the_same(first: str, second: str) -> bool:
    """Whether two names read the same to a person (confusables, case, accents and
    spacing folded; names without Latin letters compared NFKC-casefolded)."""
    a, b = "".join(skeleton_words(first)), "".join(skeleton_words(second))
    if a and b:
        return a == b
    fold = [unicodedata.normalize("NFKC", n).casefold().strip() for n in (first, second)]
    return fold[0] == fold[1]
