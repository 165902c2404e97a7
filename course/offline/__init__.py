"""The offline Images API: a local server that answers like OpenAI's Images API.

`course serve` runs it; `course.connect()` finds or starts one in the background.
Modules, by what they hold:

- `models`    the emulated models and their limits (data in `data/models.json`)
- `errors`    the error envelope and every message the real API sends
- `params`    request validation, per era (DALL-E 2024, GPT image 2026)
- `uploads`   decoding and checking uploaded images
- `render`    drawing images from a prompt, edits and variations
- `urls`      signed blob-style URLs that expire after an hour
- `storage`   image files on disk, swept when their URLs expire
- `requestlog` the durable SQLite log of every request
- `policy`    keys, content policy, rate limits, injected faults
- `budget`    what one grading run may take: requests, images, decoded pixels, uploads, log
- `channels`  a listener per grading run (a TCP one behind a secret path prefix)
- `memory`    giving freed memory back, so that one run's requests leave nothing for the next
- `services`  what every route shares (log, stores, policy, budgets, producer, render threads, clock)
- `rows`      a request's row in the log, written once, before its answer goes out
- `recording` the request log as middleware, and the real API's error envelope
- `budgeting` the runs' budgets as middleware, and the room for large bodies
- `renderers` Pillow work on a few threads, stopped when the client goes
- `streaming` server-sent events and sending them
- `produce`   a valid request turned into its response body (and `token_usage`)
- `files`     the minimal Files API (uploads, expiry, listing in pages)
- `responses` the Responses API's image tool; `conversations` the responses kept (for `previous_response_id`,
              retrieve and delete), `input_items` a stored response's input items, in pages, and `image_urls` an
              input image's http(s) URL read back (a picture the offline API served)
- `routes`    the routes by resource, on starlette's Router (images, files, models, responses, ...)
- `headers`   the real API's headers; `config` the server's settings; `sdk_types` the model names the installed
              SDK's types list
- `app`       the ASGI application: the doors (control socket, channels, health) and the API behind them
- `server`    running it in the foreground or detached
"""
