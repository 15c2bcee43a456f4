"""Dict- and list-heavy text processing: word counts, grouping, anagram classes, key-function sorts."""

SYLLABLES = ["ka", "lo", "mi", "ne", "tor", "sa", "vu", "ri", "qe", "bal", "on", "dre",
             "po", "xi", "ul", "fen", "ga", "ho", "ja", "wex"]


def make_words(count, seed):
    state = seed
    words = []
    for _ in range(count):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        k = 1 + (state >> 5) % 3
        parts = []
        s = state
        for _ in range(k):
            parts.append(SYLLABLES[s % len(SYLLABLES)])
            s //= len(SYLLABLES)
        w = "".join(parts)
        if (state >> 20) % 11 == 0:
            w = w.capitalize()
        words.append(w)
    return words


def analyse(words):
    counts = {}
    for w in words:
        key = w.lower()
        counts[key] = counts.get(key, 0) + 1

    by_initial = {}
    for w, c in counts.items():
        by_initial.setdefault(w[0], []).append((w, c))

    anagrams = {}
    for w in counts:
        anagrams.setdefault("".join(sorted(w)), []).append(w)
    classes = [sorted(ws) for ws in anagrams.values() if len(ws) > 1]
    classes.sort(key=lambda ws: (-len(ws), ws[0]))

    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    lengths = {}
    for w in words:
        n = len(w)
        lengths[n] = lengths.get(n, 0) + 1

    bigrams = {}
    for a, b in zip(words, words[1:]):
        pair = (a.lower(), b.lower())
        bigrams[pair] = bigrams.get(pair, 0) + 1
    best_pairs = sorted(bigrams, key=lambda p: (-bigrams[p], p))[:10]

    initial_summary = []
    for letter in sorted(by_initial):
        group = by_initial[letter]
        group.sort(key=lambda wc: (wc[1], wc[0]), reverse=True)
        initial_summary.append((letter, len(group), group[0][0], sum(c for _, c in group)))

    capitalised = [w for w in words if w[:1].isupper()]
    uniq = set(words)
    vocab_digest = 0
    for w in sorted(uniq):
        vocab_digest = (vocab_digest * 31 + len(w) + ord(w[-1])) % 1000000007

    return (len(counts), top[:5], len(classes), classes[:3], sorted(lengths.items()),
            best_pairs[:3], initial_summary, len(capitalised), vocab_digest)


def run(scale):
    total = max(200, int(31000 * scale))
    results = []
    for rep in range(4):
        words = make_words(total, 17 + rep)
        results.append(analyse(words))
    return results
