"""The review desk: a server-rendered web application over the queue, for every role.

``apiflag web`` serves it (:mod:`apiflag.web.cli`); :func:`apiflag.web.app.create_app` builds
it; :mod:`apiflag.web.access` is the one table of route x role; :mod:`apiflag.web.session` signs
the session cookies; :mod:`apiflag.web.pages` and :mod:`apiflag.web.views` gather what each page
shows through the project's own functions.
"""
