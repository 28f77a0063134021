"""Words that name the same thing in Russian and English, for comparing names across
languages ("Ассоциация развития интернета" = "Internet Development Association").

Russian words are looked up by their Snowball stem, so any inflection of a listed
word maps to its English equivalent. Loanwords that transliterate to their English
spelling ("интернет", "технологии") need no entry: their skeletons already agree.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import snowballstemmer

# Russian word (any form) -> the English word it stands for.
_RU_EN = {
    "развитие": "development",
    "разработчик": "developer",
    "разработка": "development",
    "программист": "programmer",
    "программный": "software",
    "цифровой": "digital",
    "цифровая": "digital",
    "экономика": "economy",
    "информационный": "information",
    "безопасность": "security",
    "сообщество": "community",
    "клуб": "club",
    "группа": "group",
    "искусственный": "artificial",
    "интеллект": "intelligence",
    "данные": "data",
    "данных": "data",
    "наука": "science",
    "научный": "science",
    "образование": "education",
    "образовательный": "education",
    "медицина": "medicine",
    "медицинский": "medical",
    "здравоохранение": "healthcare",
    "финансовый": "financial",
    "финансы": "finance",
    "банковский": "banking",
    "промышленный": "industrial",
    "промышленность": "industrial",
    "отрасль": "industry",
    "энергетика": "energy",
    "энергетический": "energy",
    "строительство": "construction",
    "строительный": "construction",
    "транспорт": "transport",
    "транспортный": "transport",
    "логистика": "logistics",
    "робототехника": "robotics",
    "электроника": "electronics",
    "космический": "space",
    "инновация": "innovation",
    "инновационный": "innovation",
    "предприниматель": "entrepreneur",
    "предпринимательство": "entrepreneurship",
    "женщина": "women",
    "молодой": "young",
    "молодежный": "youth",
    "исследование": "research",
    "исследовательский": "research",
    "инженер": "engineer",
    "инженерный": "engineering",
    "кластер": "cluster",
    "центр": "center",
    "российский": "russian",
    "россия": "russia",
    "национальный": "national",
    "международный": "international",
    "московский": "moscow",
    "москва": "moscow",
    "петербург": "petersburg",
    "петербургский": "petersburg",
    "санкт": "saint",
    "казань": "kazan",
    "новосибирск": "novosibirsk",
    "екатеринбург": "yekaterinburg",
    "нижний": "nizhny",
    "новгород": "novgorod",
    "дизайн": "design",
    "продуктовый": "product",
    "продукт": "product",
    "маркетинг": "marketing",
    "аналитик": "analyst",
    "качество": "quality",
    "стандарт": "standard",
    "открытый": "open",
    "код": "code",
    "облачный": "cloud",
    "вычисление": "computing",
    "мобильный": "mobile",
    "игровой": "game",
    "игра": "game",
    "исследователь": "researchers",
    "анализ": "analysis",
    "специалист": "specialists",
    "дизайнер": "designers",
    "приложение": "apps",
    "университет": "university",
    "студент": "students",
    "отделение": "chapter",
    "филиал": "branch",
    "машинный": "machine",
    "обучение": "learning",
    "сеть": "network",
    "сетевой": "network",
    "телекоммуникация": "telecommunications",
    "связь": "communications",
    "агротехнологии": "agritech",
    "сельский": "agricultural",
    "хозяйство": "farming",
    "фермерский": "farming",
    "юридический": "legal",
    "юрист": "lawyers",
    "право": "law",
    "зеленый": "green",
    "экология": "ecology",
    "городской": "urban",
    "город": "city",
    "встреча": "meetup",
    "митап": "meetup",
    "конференция": "conference",
    "форум": "forum",
    "хакатон": "hackathon",
    "семинар": "seminar",
    "вебинар": "webinar",
    "школа": "school",
    "летний": "summer",
    "зимний": "winter",
    "весенний": "spring",
    "осенний": "autumn",
    "неделя": "week",
    "день": "day",
    "ночь": "night",
    "будущее": "future",
    "практика": "practice",
    "лучший": "best",
    "новый": "new",
    "ежегодный": "annual",
    "кофе": "coffee",
    "завтрак": "breakfast",
    "карьера": "career",
    "лидер": "leaders",
    "стартап": "startup",
    "венчурный": "venture",
    "инвестиция": "investment",
    "инвестор": "investors",
    "платежный": "payments",
    "платеж": "payments",
    "страхование": "insurance",
    "биотехнология": "biotech",
    "фармацевтический": "pharma",
}

# English spellings that mean the same word.
_EN_EN = {
    "st": "saint",
    "spb": "petersburg",
    "msk": "moscow",
    "meetups": "meetup",
    "ekaterinburg": "yekaterinburg",
    "nizhniy": "nizhny",
    "nizhnii": "nizhny",
    "centre": "center",
}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return snowballstemmer.stemmer("russian")


@lru_cache(maxsize=1)
def _russian_stems() -> dict[str, str]:
    return {str(_stemmer().stemWord(word)): english for word, english in _RU_EN.items()}


def english(word: str, russian_stem: str | None) -> str | None:
    """The English word for a Russian one (by its stem) or a variant English spelling.

    A stem of an inflected form can be longer than the base form's ("аналитиков" ->
    "аналитик", "аналитик" -> "аналит"): the stem's own stem is tried too.
    """
    if russian_stem is None:
        return _EN_EN.get(word)
    stems = _russian_stems()
    found = stems.get(russian_stem)
    if found is None:
        found = stems.get(str(_stemmer().stemWord(russian_stem)))
    return found
