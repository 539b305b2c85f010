"""Links to a message on its platform, built in SQL from the ids a connector stores, only when they make one.

A link is built only when the stored ids have the platform's documented shape (``../shared/payloads``), so
no id that merely looks plausible (the simulator's ``sim...`` ids, the Kaggle twcs export's re-numbered
tweet ids) becomes a broken link, and nothing but checked id characters reaches the URL:

=========  ==============================================================  ===========================================
platform   ids (``message_id``, ``root_id``)                               link
=========  ==============================================================  ===========================================
x          a status id: 15-20 digits (snowflake)                           ``https://x.com/i/web/status/<id>``
youtube    a comment id ``Ug...`` (a reply ``<parent>.<child>``) and the   ``https://www.youtube.com/watch?v=<video>``
           video id (11 characters) as the root                            ``&lc=<comment id>``
bluesky    the post's AT URI ``at://<did>/app.bsky.feed.post/<rkey>``      ``https://bsky.app/profile/<did>/post/<rkey>``
mastodon   the status URI ``https://<host>/users/<name>/statuses/<id>``    ``https://<host>/@<name>/<id>``
facebook   ``<post>_<comment>`` under the root ``<page>_<post>`` (a        ``https://www.facebook.com/<page>/posts/``
           visitor post is its own root)                                   ``<post>?comment_id=<comment>``
=========  ==============================================================  ===========================================

Instagram (numeric media ids; the web link needs the media's shortcode) and TikTok (the link needs the
video owner's handle) get none: their ids alone do not make one. Everything else is NULL.
"""

from __future__ import annotations

__all__ = ["permalink_sql"]

# ClickHouse string literals take backslash escapes, so a regex's `\.` is written `\\.` inside them.
_X_STATUS = r"'^[0-9]{15,20}$'"
_YOUTUBE_COMMENT = r"'^Ug[A-Za-z0-9_-]{10,}(\\.[A-Za-z0-9_-]+)?$'"
_YOUTUBE_VIDEO = r"'^[A-Za-z0-9_-]{11}$'"
_BLUESKY_POST = r"'^at://(did:[a-z]+:[A-Za-z0-9._:%-]+)/app\\.bsky\\.feed\\.post/([A-Za-z0-9._~:-]+)$'"
_MASTODON_STATUS = r"'^(https://[A-Za-z0-9.-]+(:[0-9]+)?)/users/([A-Za-z0-9_]+)/statuses/([0-9]+)$'"
_FACEBOOK_ID = r"'^[0-9]+_[0-9]+$'"


def permalink_sql(platform: str, message_id: str, root_id: str) -> str:
    """The message's URL on its platform (``Nullable(String)``), or NULL when its ids make none.

    The arguments are SQL column expressions, e.g. ``permalink_sql("platform", "message_id", "root_id")``.
    """
    m, r = message_id, root_id
    bluesky = f"extractGroups({m}, {_BLUESKY_POST})"
    mastodon = f"extractGroups({m}, {_MASTODON_STATUS})"
    facebook_comment = f"if({m} = {r}, '', concat('?comment_id=', splitByChar('_', {m})[2]))"
    return (
        "multiIf("
        f"{platform} = 'x' AND match({m}, {_X_STATUS}), concat('https://x.com/i/web/status/', {m}), "
        f"{platform} = 'youtube' AND match({m}, {_YOUTUBE_COMMENT}) AND match({r}, {_YOUTUBE_VIDEO}), "
        f"concat('https://www.youtube.com/watch?v=', {r}, '&lc=', {m}), "
        f"{platform} = 'bluesky' AND match({m}, {_BLUESKY_POST}), "
        f"concat('https://bsky.app/profile/', {bluesky}[1], '/post/', {bluesky}[2]), "
        f"{platform} = 'mastodon' AND match({m}, {_MASTODON_STATUS}), "
        f"concat({mastodon}[1], '/@', {mastodon}[3], '/', {mastodon}[4]), "
        f"{platform} = 'facebook' AND match({m}, {_FACEBOOK_ID}) AND match({r}, {_FACEBOOK_ID}) "
        f"AND ({m} = {r} OR splitByChar('_', {m})[1] = splitByChar('_', {r})[2]), "
        f"concat('https://www.facebook.com/', splitByChar('_', {r})[1], '/posts/', splitByChar('_', {r})[2], "
        f"{facebook_comment}), "
        "NULL)"
    )
