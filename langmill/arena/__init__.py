"""langmill arena: native speakers compare two anonymous answers; ratings and judge calibration.

    answers of 2+ models ──items──▶ prompts, first-turn answers ──store──▶ SQLite / PostgreSQL
    invitation links (invite) ──app (serve)──▶ votes, one transaction each (store)
    votes (+ `langmill eval winrate` judgements) ──results──▶ ratings (ratings), agreement,
        report.html, votes.csv/.parquet, a TRL preference dataset for `langmill publish`

Modules: items (what is shown), store (the one database layer and the pair scheduler), app (the
Flask pages), i18n (the interface texts, locales/*.yaml), ratings (Bradley–Terry, Elo, bootstrap,
agreement statistics), results (all of it as files).
"""
