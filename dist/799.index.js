export const id = 799;
export const ids = [799];
export const modules = {

/***/ 13799:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   requestMultipart: () => (/* binding */ requestMultipart)
/* harmony export */ });
/* harmony import */ var undici__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(46752);
/* harmony import */ var _http_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(76803);
/* harmony import */ var _retry_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(49809);
/* harmony import */ var _v1_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(47086);
/* harmony import */ var _common_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(39026);
/* harmony import */ var _types_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(99674);
// request_sftp_access takes the public keys as a multipart file field, like curl -F.






async function requestMultipart(url, field, fileName, text, ctx, retryBaseMs) {
    return (0,_retry_js__WEBPACK_IMPORTED_MODULE_2__/* .withRetry */ .bD)(async () => {
        const form = new undici__WEBPACK_IMPORTED_MODULE_0__.FormData();
        form.append(field, new Blob([text], { type: 'text/plain' }), fileName);
        const res = await (0,undici__WEBPACK_IMPORTED_MODULE_0__/* .request */ .Em)(url, { method: 'POST', body: form, signal: ctx.signal, dispatcher: (0,_http_js__WEBPACK_IMPORTED_MODULE_1__/* .dispatcher */ .oh)() });
        const body = (await (0,_http_js__WEBPACK_IMPORTED_MODULE_1__/* .readBounded */ .CB)(res.body, 1024 * 1024)).toString('utf8');
        let parsed;
        try {
            parsed = JSON.parse(body);
        }
        catch {
            if (res.statusCode >= 300)
                throw new _http_js__WEBPACK_IMPORTED_MODULE_1__/* .HttpStatusError */ .F9('request_sftp_access', res.statusCode, (0,_http_js__WEBPACK_IMPORTED_MODULE_1__/* .parseRetryAfter */ .mu)(res.headers['retry-after']), (0,_http_js__WEBPACK_IMPORTED_MODULE_1__/* .snippet */ .UA)(body));
            throw new _http_js__WEBPACK_IMPORTED_MODULE_1__/* .BadAnswerError */ .ac(`request_sftp_access: the platform answered something that is not JSON (${(0,_http_js__WEBPACK_IMPORTED_MODULE_1__/* .snippet */ .UA)(body)})`);
        }
        if (Array.isArray(parsed.failures) && parsed.failures.length) {
            const reasons = parsed.failures.map((f) => String(f.reason ?? ''));
            throw new _types_js__WEBPACK_IMPORTED_MODULE_5__/* .PlatformError */ .W((0,_v1_js__WEBPACK_IMPORTED_MODULE_3__/* .describeFailures */ .ng)('request_sftp_access', parsed.failures), reasons, reasons.includes('SERVER:ERROR'));
        }
        return parsed.request ?? {};
    }, {
        attempts: 5,
        baseMs: retryBaseMs ?? 2000,
        signal: ctx.signal,
        retryable: _common_js__WEBPACK_IMPORTED_MODULE_4__/* .retryableCall */ .dw,
    });
}


/***/ })

};
