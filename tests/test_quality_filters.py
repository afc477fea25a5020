"""Quality filters on real fi/eu/et text, on planted junk, and through a real datatrove pipeline."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from datatrove.data import Document

from langmill.filters.quality import (
    QUALITY_FILTERS,
    C4Filter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    build_quality_filters,
)
from langmill.config import deep_merge, load_quality_config
import reference_text as T

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEXT = DATA / "text"

# UD sentences per document and UDHR paragraphs per document. UD-FTB and UD-EWT sentences are short
# (7-10 words), so 20 sentences make a ~150-200 word document, about a short web page.
UD_SENTENCES_PER_DOC = 20
UDHR_PARAGRAPHS_PER_DOC = 20
REAL_SOURCES = {
    "fi": ["ud/fi_tdt-ud-dev.txt", "ud/fi_ftb-ud-dev.txt", "udhr/udhr_fin.txt"],
    "eu": ["ud/eu_bdt-ud-dev.txt", "udhr/udhr_eus.txt"],
    "et": ["ud/et_ewt-ud-dev.txt", "udhr/udhr_est.txt"],
}


# fi.yaml as shipped (its thresholds are calibrated: scripts/calibrate_languages.py), read directly.
FI_FILE = yaml.safe_load((Path(__file__).resolve().parents[1] / "langmill" / "configs" / "languages" / "fi.yaml").read_text(encoding="utf-8"))


def make_doc(text: str, lang: str = "fi", doc_id: str = "d") -> Document:
    return Document(text=text, id=doc_id, metadata={"lang": lang})


def run_chain(doc: Document, lang: str) -> tuple[str | None, str | None]:
    """(reason, detail) of the first filter that drops the doc, or (None, None) if it is kept."""
    config, _ = load_quality_config(lang)
    for flt in build_quality_filters(config):
        if not flt.filter(doc) is True:
            return doc.metadata["reason"], doc.metadata["detail"]
    return None, None


# --------------------------------------------------------------------------- text-unit definitions


def test_words_definition():
    assert T.words("EU:ssa rock'n'roll Pekin-era 4.5. www.yle.fi") == ["EU:ssa", "rock'n'roll", "Pekin-era", "4.5", "www.yle.fi"]
    assert T.words("pakkasessa . -- 'lainaus' a--b #tag …") == ["pakkasessa", "lainaus", "a", "b", "tag"]
    assert T.words("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # combining vowel signs stay inside words
    assert T.words("") == []


def test_lines_paragraphs_sentences():
    text = "Eka rivi.\nToka rivi\n\n\n  Kolmas kappale.  \n"
    assert T.lines(text) == ["Eka rivi.", "Toka rivi", "", "", "  Kolmas kappale.  ", ""]
    assert T.paragraphs(text) == ["Eka rivi.\nToka rivi", "Kolmas kappale."]
    # "4.5." ends a piece with a word in it, so the date counts as a sentence (a known over-count)
    assert T.count_sentences("Hän tuli. Me menimme! Entä sitten? 4.5. oli hyvä päivä") == 5
    assert T.count_sentences("Hän sanoi: ”Tule.” Minä tulin.") == 2
    assert T.count_sentences("... !") == 0
    assert T.ends_with_terminal("Hän sanoi: ”Tule.”")
    assert not T.ends_with_terminal("Hän sanoi: ”Tule”")
    assert T.ends_with_ellipsis("Lue lisää...") and T.ends_with_ellipsis("Lue lisää…")


# --------------------------------------------------------------------------- config


def test_deep_merge_and_language_lookup():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    merged = deep_merge(base, {"a": {"y": [3]}, "c": 4})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 2, "c": 4}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}

    for code in ("fi", "FI", "fi-FI", "fi_FI"):
        cfg, own = load_quality_config(code)
        assert own and cfg["gopher_quality"]["max_mean_word_length"] == FI_FILE["gopher_quality"]["max_mean_word_length"] != 10
    cfg, _ = load_quality_config("fi", override={"c4": {"min_sentences": 7}})
    assert cfg["c4"]["min_sentences"] == 7 and cfg["c4"]["min_words_per_line"] == 4


@pytest.mark.parametrize("lang", ["fi", "eu", "et", "en", "sv", "de", "is", "cy", "sw"])
def test_every_language_file_loads(lang):
    cfg, own = load_quality_config(lang)
    assert own
    assert set(cfg) == {"gopher_quality", "gopher_repetition", "c4", "fineweb_quality"}
    stop = cfg["gopher_quality"]["stop_words"]
    assert 40 <= len(stop) <= 100 and all(isinstance(w, str) for w in stop), stop
    for cls in QUALITY_FILTERS:  # every key is known to its filter
        cls(config=cfg[cls.reason])


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match="unknown config keys"):
        C4Filter(config={"min_sentense": 3})


# --------------------------------------------------------------------------- good prose

FINNISH_PROSE = """Suomen kesä on lyhyt mutta valoisa. Kesäkuun lopussa aurinko laskee etelässäkin vasta lähellä puoltayötä, ja pohjoisessa se ei laske lainkaan. Monet suomalaiset viettävät lomansa mökillä järven rannalla, missä saunotaan, uidaan ja kalastetaan.

Mökkielämä on vuosien mittaan muuttunut. Ennen mökeillä ei ollut sähköä eikä juoksevaa vettä, mutta nykyään monessa mökissä on samat mukavuudet kuin kaupunkiasunnossa. Silti moni haluaa pitää mökkinsä yksinkertaisena, koska juuri se tekee lomasta levollisen.

Syksyllä luonto tarjoaa marjoja ja sieniä. Metsässä saa liikkua vapaasti jokamiehenoikeuden ansiosta, kunhan ei aiheuta haittaa maanomistajalle. Mustikat ja puolukat poimitaan usein pakkaseen, jotta niitä riittää koko talveksi."""

BASQUE_PROSE = """Euskal Herriko kostaldea oso ezaguna da bere hondartzengatik eta arrantza-herriengatik. Udan milaka bisitari etortzen dira Donostiara, Zarautzera eta Bermeora, itsasoaz eta gastronomiaz gozatzeko. Herri txiki horietan portua da oraindik bizitzaren erdigunea.

Arrantzaleek goizean goiz irteten dute itsasora, eta arratsaldean itzultzen dira arrainarekin. Antxoa eta hegaluzea dira denboraldiko arrain garrantzitsuenak, eta kontserba-lantegiek urte osoan zehar lan egiten dute. Gazteek, ordea, gero eta gutxiago aukeratzen dute ogibide gogor hori.

Barnealdean, berriz, mendiak eta baserriak nagusitzen dira. Baserri askotan familia berak mendeetan zehar bizi izan dira, eta euskara izan da beti etxeko hizkuntza. Gaur egun landa-turismoak bizitza berria eman die baserri horietako batzuei."""


@pytest.mark.parametrize("lang,text", [("fi", FINNISH_PROSE), ("eu", BASQUE_PROSE)])
def test_good_prose_is_kept_unchanged(lang, text):
    doc = make_doc(text, lang)
    assert run_chain(doc, lang) == (None, None)
    assert doc.text == text
    assert "c4_lines_removed" not in doc.metadata  # C4 is not in the default chain (configs/quality.yaml)


# --------------------------------------------------------------------------- planted junk

_KEYWORDS = (
    "Halvat lennot Helsinki halvat lennot Tukholma halvat lennot Lontoo ja halvat lennot Pariisi. "
    "Varaa halvat lennot nyt, sillä halvat lennot loppuvat pian ja halvat lennot ovat parhaita. "
    "Etsitkö halvat lennot Roomaan? Meiltä halvat lennot, halvat lennot Berliiniin ja halvat lennot "
    "Madridiin. Halvat lennot aina edullisesti, halvat lennot kaikille ja halvat lennot heti."
)
_REPEATED_LINE = "\n".join(["Tervetuloa verkkokauppaamme, tilaa tänään ja säästä jopa puolet."] * 20)
_MENU = "\n".join(
    "Etusivu Yhteystiedot Tuotteet Palvelut Uutiset Ajankohtaista Ohjeet Asiakaspalvelu Sivukartta "
    "Saavutettavuus Ostoskori Rekisteröidy Suomeksi Ruotsiksi Englanniksi Haku Blogi Kampanjat".split()
    + ["Kaikki oikeudet pidätetään.", "Yritys Oy 2024.", "Palaa alkuun."]
)
_HASHTAGS = "Ihana päivä mökillä, ja sauna oli lämmin!\n" + " ".join(
    "#" + w
    for w in "kesä loma mökki sauna järvi uinti aurinko suomi luonto metsä kalastus grilli ystävät "
    "perhe lomafiilis kesäloma mökkielämä saunailta järvimaisema auringonlasku hyvää mieltä onni "
    "rentoutuminen kesäpäivä vapaa luontoretki retki veneily soutu mustikka mansikka jäätelö hellepäivä "
    "terassi piknik pyöräily kävely kiitollisuus elämä arki viikonloppu valokuva kuvaus ig insta "
    "kesäkuu heinäkuu elokuu mökkiviikonloppu kesäilta hyvääkesää".split()
)
_LOREM = (
    "Tämä on yrityksemme uusi kotisivu, ja sisältö päivitetään pian.\n\n"
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
    "et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut "
    "aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse.\n\n"
    "Ota meihin yhteyttä, niin kerromme lisää palveluistamme ja hinnoistamme."
)
_JAVASCRIPT = "\n".join(
    [
        "JavaScript on poistettu käytöstä selaimessasi, joten sivu ei näy oikein.",
        "Ota JavaScript käyttöön selaimen asetuksista ja lataa sivu sitten uudelleen.",
        "Tämä sivusto vaatii JavaScriptin toimiakseen, eikä sitä voi käyttää ilman sitä.",
        "Ohjeet JavaScriptin käyttöönottoon löydät selaimesi valmistajan sivuilta.",
        "Jos JavaScript on jo käytössä, tyhjennä välimuisti ja yritä uudelleen myöhemmin.",
    ]
)
_BULLETS = "Tarjoamme asiakkaillemme seuraavat edut, kun tilaat verkkokaupastamme:\n" + "\n".join(
    "• " + s
    for s in [
        "Ilmainen toimitus yli 50 euron tilauksiin koko Suomeen",
        "Nopea toimitus, ja paketti on perillä kahdessa päivässä",
        "Maksuton palautus 30 päivän ajan ilman kysymyksiä",
        "Turvallinen maksaminen verkkopankilla tai kortilla",
        "Asiakaspalvelu auttaa arkisin kello kahdeksasta neljään",
        "Kanta-asiakkaana saat etuja ja tarjouksia joka kuukausi",
        "Lahjapaketointi on mahdollista kaikille tuotteille",
        "Tuotteet ovat kotimaisia ja ne on valmistettu huolella",
        "Voit noutaa tilauksesi myös myymälästämme Tampereelta",
        "Uutiskirjeen tilaajana kuulet uutuuksista ensimmäisenä",
        "Tuotteille on annettu kahden vuoden takuu",
        "Yritysasiakkaille tarjoamme laskutuksen",
    ]
)
_FEW_WORDS = "Kiitos tilauksestasi! Toimitamme sen pian."
# A news site's header, breadcrumbs and footer with no article: separators between short items.
_NAVIGATION = "\n".join(
    [
        "Siirry sisältöön",
        "Etusivu | Uutiset | Urheilu | Kulttuuri | Tiede | Sää | Yhteystiedot",
        "Kirjaudu sisään | Rekisteröidy | Asiakaspalvelu",
        "Etusivu › Uutiset › Kotimaa › Talous",
        "Kotimaa · Ulkomaat · Talous · Politiikka · Mielipide · Lifestyle",
        "Lue lisää »",
        "Tilaa uutiskirje • Seuraa meitä • RSS-syötteet",
        "© 2024 Mediatalo Oy · Käyttöehdot · Tietosuojaseloste · Evästeasetukset · Saavutettavuusseloste",
    ]
)

# name, text, the filter that is built for it (language-neutral settings), the rule its detail must
# name, and the reason of fi's default chain (None: fi keeps it)
NEUTRAL, _ = load_quality_config("")
JUNK = [
    ("keyword_stuffed", _KEYWORDS, GopherRepetitionFilter, "top_2gram_char_frac", "gopher_repetition"),
    ("repeated_line_x20", _REPEATED_LINE, GopherRepetitionFilter, "dup_line_frac", "gopher_repetition"),
    # fi keeps a list of one-word lines: LibreOffice help pages are made of them, and fi's file keeps
    # >= 95 % of those (short-line rule off, newline ratio 0.9+); the neutral settings drop it
    ("menu_lines", _MENU, FineWebQualityFilter, "short_line_ratio", None),
    ("hashtags", _HASHTAGS, GopherQualityFilter, "hash_word_ratio", "gopher_quality"),
    # C4 catches these when turned on; the default chain runs without C4 (configs/quality.yaml: it drops
    # 21 % of well-formed reference documents), so there they are kept (None)
    ("lorem_ipsum", _LOREM, C4Filter, "lorem_ipsum=1", None),
    ("javascript_notice", _JAVASCRIPT, C4Filter, "sentences=0<3 (removed lines: javascript=5)", None),
    ("bullets", _BULLETS, GopherQualityFilter, "bullet_lines_ratio", "gopher_quality"),
    ("navigation", _NAVIGATION, GopherQualityFilter, "separator_ratio=0.361>0.05", "gopher_quality"),
    # in fi's chain repetition runs first: the one 2-gram of a 6-token doc is 48 % of its characters,
    # above fi's threshold for documents of up to 40 words (datatrove counts it even when it occurs once)
    ("too_few_words", _FEW_WORDS, GopherQualityFilter, f"doc_words=5<{NEUTRAL['gopher_quality']['min_doc_words']}", "gopher_repetition"),
]


@pytest.mark.parametrize("name,text,cls,rule,chain_reason", JUNK, ids=[j[0] for j in JUNK])
def test_planted_junk_is_dropped(name, text, cls, rule, chain_reason):
    doc = make_doc(text)
    flt = cls(config=NEUTRAL[cls.reason] | {"enabled": True})  # C4, off by default, turned on
    assert flt.filter(doc) == (False, cls.reason)
    assert doc.metadata["reason"] == cls.reason
    assert doc.metadata["detail"].startswith(rule), doc.metadata["detail"]
    assert doc.text == text  # a dropped doc is not edited

    reason, detail = run_chain(make_doc(text), "fi")
    assert reason == chain_reason, (reason, detail)


def test_newline_and_duplicate_line_rules_of_fineweb():
    cfg = NEUTRAL  # fi's file turns the short-line rule off (help pages)
    flt = FineWebQualityFilter(config=cfg["fineweb_quality"])
    listing = "\n".join(f"Tuote numero {i} on nyt myynnissä verkkokaupassamme." for i in range(30))
    assert flt.check(make_doc(listing)) is None  # 7 words a line
    fw = cfg["fineweb_quality"]
    listing = "\n".join(f"Ammattikeittiökalustepaketti-{i} varastossa." for i in range(30))
    assert (flt.check(make_doc(listing)) is None) == (29 / 60 <= fw["max_newline_word_ratio"])  # 29 / 60 = 0.483
    listing = "\n".join(f"Ammattikeittiökalustepaketti-{i}." for i in range(30))
    assert flt.check(make_doc(listing)) == f"newline_word_ratio=0.967>{fw['max_newline_word_ratio']}"  # 29 / 30
    listing = "\n".join(f"Tuote {i}." for i in range(30))
    assert flt.check(make_doc(listing)) == f"short_line_ratio=1>{fw['max_short_line_ratio']}" != "short_line_ratio=1>1"
    dup = "\n\n".join([FINNISH_PROSE] * 4)  # 3/4 of the characters in repeated lines
    assert 0.75 > fw["max_dup_line_char_ratio"] and flt.check(make_doc(dup)).startswith("dup_line_char_ratio")


# --------------------------------------------------------------------------- C4 line removal


def test_c4_removes_cookie_and_javascript_lines_and_keeps_the_doc():
    noisy = (
        "Tämä sivusto käyttää evästeitä parantaakseen käyttökokemusta, hyväksy evästeet jatkaaksesi.\n"
        + FINNISH_PROSE
        + "\n\nPlease enable JavaScript in your browser to see the comments.\n"
        "Our site uses cookies, read more in our privacy policy."
    )
    doc = make_doc(noisy)
    flt = C4Filter(config=load_quality_config("fi")[0]["c4"] | {"enabled": True})  # off by default
    assert flt.filter(doc) is True
    assert doc.metadata["c4_lines_removed"] == 3
    assert doc.text == FINNISH_PROSE
    # and the rest of the chain keeps the cleaned doc
    assert run_chain(make_doc(noisy), "fi") == (None, None)


# --------------------------------------------------------------------------- unknown language

SWAHILI = (
    "Watoto wengi hupenda kucheza mpira baada ya masomo shuleni. Walimu huwahimiza kufanya mazoezi kila "
    "siku ili kuimarisha afya zao. Katika vijiji vingi, uwanja wa michezo ni mahali ambapo jamii hukutana "
    "jioni. Wazazi huja kuwatazama watoto wao, na wazee husimulia hadithi za zamani. Michezo hiyo husaidia "
    "kujenga urafiki kati ya familia mbalimbali."
)


def test_unknown_language_uses_defaults_without_stop_words():
    cfg, own = load_quality_config("xx")
    assert own is False
    defaults, _ = load_quality_config("")
    assert cfg == defaults
    assert cfg["gopher_quality"]["stop_words"] == []
    assert cfg["gopher_quality"]["max_mean_word_length"] == 10

    gq = GopherQualityFilter(config=cfg["gopher_quality"])
    assert gq.check(make_doc(SWAHILI, "xx")) is None
    assert run_chain(make_doc(SWAHILI, "xx"), "xx") == (None, None)
    # the same text under Finnish settings fails the (Finnish) stop-word rule (fi's calibrated
    # min_stop_words is 0 for documents of this length, so the rule is switched on here)
    fi_config = load_quality_config("fi")[0]["gopher_quality"]
    fi_gq = GopherQualityFilter(config=fi_config | {"min_stop_words": 2, "by_length": {}})
    assert fi_gq.check(make_doc(SWAHILI, "fi")) == "stop_words=0<2"


# --------------------------------------------------------------------------- datatrove interface


def test_filters_run_in_a_datatrove_pipeline(tmp_path):
    from datatrove.executor import LocalPipelineExecutor

    docs = [make_doc(FINNISH_PROSE, "fi", "good"), make_doc(_REPEATED_LINE, "fi", "rep"), make_doc(_LOREM, "fi", "lorem")]
    kept: list[str] = []

    def collect(data, rank=0, world_size=1):
        for doc in data:
            kept.append(doc.id)
            yield doc

    config, _ = load_quality_config("fi")
    config["c4"]["enabled"] = True  # off by default; on here so that every filter runs
    executor = LocalPipelineExecutor(
        pipeline=[docs, *build_quality_filters(config), collect],
        tasks=1,
        workers=1,
        logging_dir=str(tmp_path / "logs"),
    )
    stats = executor.run()
    assert kept == ["good"]
    assert "dropped_gopher_repetition" in str(stats) and "dropped_c4" in str(stats)

    # and a filter's run() alone, as a generator step
    out = list(C4Filter(config=config["c4"]).run(iter([make_doc(FINNISH_PROSE), make_doc(_LOREM)])))
    assert [d.text for d in out] == [FINNISH_PROSE]


# --------------------------------------------------------------------------- real text


def _read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _as_paragraphs(sentences: list[str]) -> str:
    """Sentences joined by spaces into paragraphs of 3, 4, 5, 3, ... sentences, blank lines between."""
    paras, i, k = [], 0, 0
    while i < len(sentences):
        m = 3 + k % 3
        paras.append(" ".join(sentences[i : i + m]))
        i, k = i + m, k + 1
    return "\n\n".join(paras)


def real_documents(lang: str) -> dict[str, list[str]]:
    """{source/variant: [document text]} for the language's UD dev sets and UDHR."""
    out: dict[str, list[str]] = {}
    for rel in REAL_SOURCES[lang]:
        items = _read_lines(TEXT / rel)
        if rel.startswith("ud/"):
            groups = [g for g in _chunks(items, UD_SENTENCES_PER_DOC) if len(g) >= UD_SENTENCES_PER_DOC // 2]
            out[f"{rel}:one-sentence-per-line"] = ["\n".join(g) for g in groups]
            out[f"{rel}:paragraphs"] = [_as_paragraphs(g) for g in groups]
        else:  # UDHR: one paragraph per line already
            groups = _chunks(items, UDHR_PARAGRAPHS_PER_DOC)
            out[f"{rel}:one-paragraph-per-line"] = ["\n".join(g) for g in groups]
            out[f"{rel}:blank-line-paragraphs"] = ["\n\n".join(g) for g in groups]
    return out


@pytest.mark.parametrize("lang", ["fi", "eu", "et"])
def test_real_text_is_mostly_kept(lang):
    if not TEXT.is_dir():
        pytest.skip(f"real text data not found at {TEXT} (needs ../shared/data next to the repository)")
    total = kept = 0
    report = []
    for source, texts in real_documents(lang).items():
        dropped: Counter[str] = Counter()
        for i, t in enumerate(texts):
            reason, detail = run_chain(make_doc(t, lang, f"{source}#{i}"), lang)
            if reason is not None:
                dropped[f"{reason}:{detail.split('=')[0]}"] += 1
        n_kept = len(texts) - sum(dropped.values())
        total, kept = total + len(texts), kept + n_kept
        report.append(f"  {source}: kept {n_kept}/{len(texts)} = {n_kept / len(texts):.3f} dropped {dict(dropped)}")
    rate = kept / total
    summary = f"{lang}: kept {kept}/{total} = {rate:.3f}\n" + "\n".join(report)
    print(summary)
    assert rate >= 0.95, summary


def test_separator_rule_keeps_real_text():
    """The separator rule (fi's settings) drops no UD document and no LibreOffice help page except
    the few Math pages whose "<?>" placeholders stand between words; the separator share of real
    text is counted by the kernel, so this also checks it on real text."""
    if not TEXT.is_dir():
        pytest.skip(f"real text data not found at {TEXT} (needs ../shared/data next to the repository)")
    from test_calibrate import libreoffice_documents

    cfg, _ = load_quality_config("fi")
    only_separators = {k: v for k, v in cfg["gopher_quality"].items() if k in ("max_separator_ratio", "separator_chars")}
    flt = GopherQualityFilter(config=only_separators | {"min_doc_words": 0, "min_stop_words": 0, "min_alpha_words_ratio": 0,
                                                        "max_mean_word_length": 1000, "min_mean_word_length": 0,
                                                        "max_bullet_lines_ratio": 1, "max_ellipsis_lines_ratio": 1,
                                                        "max_hash_word_ratio": 1, "max_ellipsis_word_ratio": 1,
                                                        "min_distinct_word_ratio": 0, "max_garbled_word_ratio": 1, "by_length": {}})
    ud = [t for source, texts in real_documents("fi").items() if source.startswith("ud/") for t in texts]
    help_pages = libreoffice_documents("fi", limit=5000)
    docs = [make_doc(t, "fi", str(i)) for i, t in enumerate(ud + help_pages)]
    dropped = [d for d, verdict in zip(docs, flt.filter_batch(docs)) if verdict is not True]
    assert all(d.metadata["detail"].startswith("separator_ratio=") for d in dropped)
    assert all(int(d.id) >= len(ud) and "<?>" in d.text for d in dropped), [d.text[:200] for d in dropped]
    assert len(ud) > 100 and len(help_pages) > 1000 and len(dropped) <= 0.005 * len(help_pages), (len(ud), len(help_pages), len(dropped))


# --------------------------------------------------------------------------- per-length thresholds, alpha ratio, garbled words

# A 29-word Finnish help text: its one repeated 2-gram ("valitse Muotoile") is a large share of so few words.
_SHORT_HELP = ("Valitse Muotoile ja sitten Merkki. Valitse Muotoile ja sitten Kappale. Valitse Muotoile ja sitten Sivu. "
               "Voit muuttaa tekstin fonttia, kappaleen sisennystä ja sivun reunuksia näissä ikkunoissa.")


def test_by_length_thresholds_apply_to_short_documents_only():
    flt = GopherRepetitionFilter(config={"max_top_ngram_char_frac": {2: 0.2, 3: 0.18, 4: 0.16},
                                         "by_length": {40: {"max_top_ngram_char_frac": {2: 0.5, 3: 0.5, 4: 0.5}}}})
    plain = GopherRepetitionFilter(config={"max_top_ngram_char_frac": {2: 0.2, 3: 0.18, 4: 0.16}, "by_length": {}})
    short = make_doc(_SHORT_HELP)
    assert plain.check(short).startswith("top_2gram_char_frac")
    assert flt.check(short) is None  # <= 40 words: the bucket's thresholds
    long = make_doc(" ".join([_SHORT_HELP] * 3))  # 87 words: the section's own thresholds, and the detail says so
    assert flt.check(long) == plain.check(long) and "(<=" not in flt.check(long)
    tight = GopherRepetitionFilter(config={"by_length": {40: {"max_top_ngram_char_frac": {2: 0.1}}}})
    assert tight.check(short).endswith(" (<=40 words)") and tight.check(short).startswith("top_2gram_char_frac=")
    # a bucket may set an n the section does not have
    extra = GopherRepetitionFilter(config={"max_top_ngram_char_frac": {}, "max_dup_ngram_char_frac": {}, "max_dup_line_char_frac": 1,
                                           "by_length": {40: {"max_top_ngram_char_frac": {5: 0.01}}}})
    assert extra.check(short).startswith("top_5gram_char_frac") and extra.check(long) is None


def test_by_length_settings_are_checked_in_one_line():
    from langmill.settings_schema import ConfigError

    ok, _ = load_quality_config("fi", {"gopher_quality": {"by_length": {30: {"min_stop_words": 1}}}})
    assert ok["gopher_quality"]["by_length"][30] == {"min_stop_words": 1}
    bad = [
        ({"gopher_quality": {"by_length": {30: {"stop_words": ["ja"]}}}}, "unknown setting gopher_quality.by_length.30.stop_words"),
        ({"gopher_quality": {"by_length": {"short": {"min_stop_words": 1}}}}, "keys must be integers >= 1"),
        ({"gopher_quality": {"by_length": {30: {"min_stop_word": 1}}}}, "did you mean gopher_quality.by_length.30.min_stop_words"),
        ({"gopher_repetition": {"by_length": {30: {"max_dup_line_frac": 2}}}}, "gopher_repetition.by_length.30.max_dup_line_frac"),
        ({"gopher_quality": {"alpha_ratio_of": "letters"}}, "alpha_ratio_of must be one of words, tokens"),
    ]
    for override, message in bad:
        with pytest.raises(ConfigError, match=message.replace(".", r"\.")) as err:
            load_quality_config("fi", override)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="cannot be set per length"):
        GopherQualityFilter(config={"by_length": {30: {"stop_words": ["ja"]}}})


# A chat answer in Markdown: list markers, bold, a formula; punctuation tokens are a third of its tokens.
_MARKDOWN_ANSWER = """**Vastaus:** Lasketaan vaiheittain.

1. **Alkuarvo:** x = 12 * 3 = 36
2. **Vähennys:** 36 - 4 = 32
3. **Tulos:** 32 / 2 = 16

- *Huom:* tulos on aina parillinen, kun alkuarvo on parillinen.
- Tarkista lasku vielä itse."""


def test_alpha_ratio_of_words_leaves_markup_out():
    words = GopherQualityFilter(config={"min_doc_words": 5, "min_alpha_words_ratio": 0.6})
    tokens = GopherQualityFilter(config={"min_doc_words": 5, "min_alpha_words_ratio": 0.6, "alpha_ratio_of": "tokens"})
    doc = make_doc(_MARKDOWN_ANSWER)
    assert words.check(doc) is None
    assert tokens.check(doc).startswith("alpha_words_ratio=0.")


def test_garbled_word_rule_catches_ocr_noise_and_keeps_prose():
    import random

    flt = GopherQualityFilter(config={"max_garbled_word_ratio": 0.1})
    rng = random.Random(5)
    noised = "".join(rng.choice("il1|!IrnmcoeO0Q5S8B6bgq9.,;:'`~^-_") if not c.isspace() and rng.random() < 0.25 else c for c in FINNISH_PROSE)
    assert flt.check(make_doc(FINNISH_PROSE)) is None
    assert flt.check(make_doc(noised)).startswith("garbled_word_ratio=")
