// Starts kinesalite bound to one address (its CLI listens on every interface).
// Usage: node tools/kinesalite.js PORT [HOST]
const kinesalite = require('kinesalite')
const port = Number(process.argv[2] || 4567)
const host = process.argv[3] || '127.0.0.1'
kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 })
  .listen(port, host, (err) => {
    if (err) throw err
    console.log(`Kinesalite listening at: http://${host}:${port}`)
  })
