export const id = 54;
export const ids = [54];
export const modules = {

/***/ 59054:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   fromPath: () => (/* binding */ fromPath),
/* harmony export */   resolvePath: () => (/* binding */ resolvePath)
/* harmony export */ });
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(9827);
// The `dump` input: a path on the runner. Relative paths are taken from the workspace,
// where earlier steps of the job wrote, not from wherever the action happens to run.





async function fromPath(p, env = process.env) {
    const given = p.trim();
    if (!given)
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR('dump: the path is empty. Give the path of the dump file (or, for api: rpc, of a pg_dump directory dump).');
    const abs = resolvePath(given, env);
    const shown = abs === given ? abs : `${abs} (from "${given}"${env.GITHUB_WORKSPACE && !(0,node_path__WEBPACK_IMPORTED_MODULE_2__.isAbsolute)(given) ? ' relative to GITHUB_WORKSPACE' : ''})`;
    let isDir;
    try {
        isDir = (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.stat)(abs)).isDirectory();
    }
    catch (err) {
        const code = err.code;
        if (code === 'ENOENT' || code === 'ENOTDIR') {
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: nothing at ${shown}. Check the path; a dump made in another job reaches this one as an artifact (use dump-artifact), ` +
                'and a checkout step that runs after the dump is written can delete it.');
        }
        if (code === 'ELOOP')
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: ${shown} is a loop of symbolic links, not a file. Point \`dump\` at the dump itself.`);
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: ${shown} cannot be read (${code ?? err.message}). Check its permissions.`);
    }
    try {
        // A folder must also be searchable to read the files inside it.
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.access)(abs, isDir ? node_fs__WEBPACK_IMPORTED_MODULE_1__.constants.R_OK | node_fs__WEBPACK_IMPORTED_MODULE_1__.constants.X_OK : node_fs__WEBPACK_IMPORTED_MODULE_1__.constants.R_OK);
    }
    catch {
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: ${shown} is not readable by this user (permission denied). Fix its permissions (e.g. \`chmod a+r\`) in the step that makes it.`);
    }
    return { path: abs, kind: 'path', description: `dump ${abs}`, cleanup: async () => { } };
}
function resolvePath(p, env = process.env) {
    if (p === '~' || p.startsWith('~/'))
        return (0,node_path__WEBPACK_IMPORTED_MODULE_2__.resolve)((0,node_os__WEBPACK_IMPORTED_MODULE_3__.homedir)(), p.slice(2));
    return (0,node_path__WEBPACK_IMPORTED_MODULE_2__.isAbsolute)(p) ? (0,node_path__WEBPACK_IMPORTED_MODULE_2__.resolve)(p) : (0,node_path__WEBPACK_IMPORTED_MODULE_2__.resolve)(env.GITHUB_WORKSPACE || process.cwd(), p);
}


/***/ })

};
