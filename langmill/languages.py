"""Language codes: one way to spell a language everywhere in langmill.

langmill speaks ISO 639-1 where it exists ("fi", "eu") and ISO 639-3 otherwise ("haw"). Users and
models spell languages in other ways: "FI", "fi-FI", "fin", "fin_Latn" (GlotLID, OpenLID, FineWeb-2),
"__label__fin_Latn" (fastText labels), or the individual language of a macrolanguage ("ekk" for
Estonian, "swh" for Swahili). `canonical_lang` maps all of them to one code; every module that takes
a language (filters, configs, checks, CLI) goes through it.
"""

# fastText models name languages differently: lid.176 uses ISO 639-1 ("fi"), GlotLID and OpenLID
# use ISO 639-3 with a script ("fin_Latn"), and some use the individual language of a
# macrolanguage ("ekk" for Estonian, "swh" for Swahili). langmill speaks ISO 639-1 where it exists.
ISO3_TO_1 = {
    "afr": "af", "amh": "am", "ara": "ar", "arb": "ar", "asm": "as", "azj": "az", "aze": "az", "bak": "ba",
    "bel": "be", "ben": "bn", "bod": "bo", "bos": "bs", "bre": "br", "bul": "bg", "cat": "ca", "ces": "cs",
    "cym": "cy", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "epo": "eo", "est": "et", "ekk": "et",
    "eus": "eu", "fao": "fo", "fas": "fa", "pes": "fa", "fin": "fi", "fra": "fr", "fry": "fy", "gle": "ga",
    "gla": "gd", "glg": "gl", "guj": "gu", "hau": "ha", "heb": "he", "hin": "hi", "hrv": "hr", "hun": "hu",
    "hye": "hy", "ibo": "ig", "ind": "id", "isl": "is", "ita": "it", "jav": "jv", "jpn": "ja", "kat": "ka",
    "kaz": "kk", "khm": "km", "kan": "kn", "kor": "ko", "kir": "ky", "lat": "la", "ltz": "lb", "lao": "lo",
    "lit": "lt", "lav": "lv", "lvs": "lv", "mlg": "mg", "plt": "mg", "mkd": "mk", "mal": "ml", "mon": "mn",
    "khk": "mn", "mar": "mr", "msa": "ms", "zsm": "ms", "mlt": "mt", "mya": "my", "nep": "ne", "npi": "ne",
    "nld": "nl", "nno": "nn", "nob": "nb", "nor": "no", "oci": "oc", "ori": "or", "ory": "or", "pan": "pa",
    "pol": "pl", "pus": "ps", "pbt": "ps", "por": "pt", "que": "qu", "roh": "rm", "ron": "ro", "rus": "ru",
    "san": "sa", "sin": "si", "slk": "sk", "slv": "sl", "sme": "se", "snd": "sd", "som": "so", "sqi": "sq",
    "als": "sq", "srp": "sr", "sun": "su", "swe": "sv", "swa": "sw", "swh": "sw", "tam": "ta", "tel": "te",
    "tgk": "tg", "tha": "th", "tuk": "tk", "tgl": "tl", "tur": "tr", "tat": "tt", "uig": "ug", "ukr": "uk",
    "urd": "ur", "uzb": "uz", "uzn": "uz", "vie": "vi", "wln": "wa", "xho": "xh", "yid": "yi", "ydd": "yi",
    "yor": "yo", "zho": "zh", "cmn": "zh", "zul": "zu", "kin": "rw", "lug": "lg", "nya": "ny", "sna": "sn",
    "sot": "st", "tsn": "tn", "wol": "wo", "lin": "ln", "orm": "om", "gaz": "om", "tir": "ti", "hat": "ht",
    "smo": "sm", "mri": "mi", "haw": "haw", "kur": "ku", "kmr": "ku", "ckb": "ckb", "cos": "co", "ast": "ast",
    # more of heliport's languages (it answers in ISO 639-3; "hbs" and "kpv" are lid.176's "sh" and "kv")
    "spa": "es", "abk": "ab", "aym": "ay", "ayr": "ay", "che": "ce", "chv": "cv", "cor": "kw", "div": "dv", "ewe": "ee",
    "fij": "fj", "glv": "gv", "grn": "gn", "hmo": "ho", "ido": "io", "iku": "iu", "ina": "ia", "kal": "kl", "nav": "nv",
    "oss": "os", "pli": "pi", "sag": "sg", "srd": "sc", "tso": "ts", "twi": "tw", "vol": "vo", "hbs": "sh", "kom": "kv", "kpv": "kv",
}


def canonical_lang(label: str) -> str:
    """langmill's code for a language label or user input: "__label__fin_Latn", "fin", "FI",
    "fi-FI" and "fi_FI" all give "fi"; an unknown code comes back lower-cased ("yue_Hant" -> "yue")."""
    code = (label or "").removeprefix("__label__").strip()
    code = code.split("_")[0].split("-")[0].lower()
    return ISO3_TO_1.get(code, code)
